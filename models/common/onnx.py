"""ONNX Runtime backends for neural stages: export a torch module once, cache it, run it with fused kernels.

Why: on CPU, ONNX Runtime's optimised graph (fused attention, LayerNorm, GELU) runs the small duihua models
2-3x faster than eager torch, and int8 dynamic quantization of the MatMul weights (activations quantized on
the fly, VNNI kernels) about 1.3x faster again. Embedding lookups stay fp32: quantizing them bought no speed.

Exports are derived artefacts, so they are not shipped: the first use of ``backend=onnx|onnx-int8`` (or
``duihua export <stage>``) exports the checkpoint into the cache folder (``paths.cache``, ``DUIHUA_CACHE_DIR``),
keyed by a SHA-256 of the checkpoint files, and later runs load the cached file.

Several processes may start at once on an empty cache (a few ``duihua run`` in parallel, server replicas):
each export is written to a temporary file of its own and renamed into place, under a file lock per cache
entry, so one process exports and the others wait for it and load its file.

A cached file that ONNX Runtime cannot load (truncated, corrupt, written by an incompatible exporter) is
derived data, so ``load_runner`` deletes it and exports again, once, with a warning. If even a fresh export
does not load, ``OnnxLoadError`` names the file and the way out (``runtime=torch``); the pipeline turns it
into one readable line and exit code 2 rather than silently running a slower backend than configured.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock

if TYPE_CHECKING:  # torch is imported where a graph is exported or a caller wants tensors back; a pipeline
    import torch  # that only runs cached graphs through ``run_numpy`` never loads it

log = logging.getLogger(__name__)
BACKENDS = ("torch", "onnx", "onnx-int8")
EXPORT_VERSION = "1"  # bump when the export recipe changes, so stale cache entries are not reused


def checkpoint_key(files: Sequence[Path]) -> str:
    digest = hashlib.sha256(f"export-v{EXPORT_VERSION}".encode())
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class OnnxLoadError(RuntimeError):
    """An ONNX file that ONNX Runtime cannot load, even after a fresh export."""


def export(module: torch.nn.Module, example: dict[str, torch.Tensor], output_names: Sequence[str], path: Path,
           dynamic_axes: Mapping[str, Mapping[int, str]] | None = None) -> None:
    """TorchScript-based export; dynamic batch and sequence axes on every input unless ``dynamic_axes``
    names them (inputs whose second axis is not the sequence, outputs with dynamic axes)."""
    import torch

    names = list(example)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _private_temp(path)
    axes = dict(dynamic_axes or {k: {0: "batch", 1: "seq"} for k in names})
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # the fused nn.TransformerEncoderLayer kernel has no ONNX symbolic; the plain ops it fuses do (and ORT
    # fuses them again)
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow are expected and harmless
            torch.onnx.export(module.eval(), tuple(example.values()), str(tmp), input_names=names,
                              output_names=list(output_names), dynamic_axes=axes, opset_version=17, dynamo=False)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        tmp.unlink(missing_ok=True)


def export_logits(model: torch.nn.Module, example: dict[str, torch.Tensor], path: Path,
                  dynamic_axes: Mapping[str, Mapping[int, str]] | None = None) -> None:
    """``export`` of a tagger whose forward takes the example's names as keywords and returns a dict with
    ``logits``: the graph is ``inputs -> logits``, the one output inference reads."""
    import torch

    names = list(example)

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True)))["logits"]

    export(LogitsOnly(), example, ["logits"], path, dynamic_axes)


def _private_temp(path: Path) -> Path:
    """A temporary file next to ``path`` that no other process or thread writes (``.onnx``: the exporter and
    the quantizer look at the suffix)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.onnx")
    os.close(fd)
    return Path(name)


def quantize_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = _private_temp(dst)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's "consider pre-processing" advice is about conv nets
    try:
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        os.replace(tmp, dst)
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)


def cached_model(backend: str, files: Sequence[Path], cache_dir: str | Path, build: Callable[[Path], None],
                 name: str = "model", key: str | None = None) -> Path:
    """The ONNX file for ``backend``, exported (and quantized) into ``cache_dir`` on first use. ``name``
    tells apart several graphs of one checkpoint (the generator's decoder step and its output head); ``key``
    is ``checkpoint_key(files)`` when the caller already has it (it reads and hashes every file)."""
    if backend not in BACKENDS[1:]:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    folder = Path(cache_dir).expanduser() / "onnx" / (key or checkpoint_key(files))
    fp32, int8 = folder / f"{name}.onnx", folder / f"{name}.int8.onnx"
    wanted = int8 if backend == "onnx-int8" else fp32
    if wanted.is_file():
        return wanted
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / f".{name}.lock"):  # the first process exports; the others wait, then find its file
        if not fp32.is_file():
            log.warning("exporting %s to ONNX (once; cached in %s)", files[0].parent, folder)
            build(fp32)
        if backend == "onnx-int8" and not int8.is_file():
            quantize_int8(fp32, int8)
    return wanted


def load_runner(backend: str, files: Sequence[Path], cache_dir: str | Path, build: Callable[[Path], None],
                name: str = "model", key: str | None = None) -> OnnxRunner:
    """``cached_model`` + ``OnnxRunner``; a cached file that does not load is exported again, once."""
    key = key or checkpoint_key(files)
    path = cached_model(backend, files, cache_dir, build, name, key)
    try:
        return OnnxRunner(path)
    except Exception as exc:  # noqa: BLE001 - ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
        log.warning("%s does not load (%s); exporting it again", path, str(exc).splitlines()[0][:200])
        with FileLock(path.parent / f".{name}.lock"):
            for stale in (path.parent / f"{name}.onnx", path.parent / f"{name}.int8.onnx",
                          *path.parent.glob(f"{name}.*opt-ort*.onnx")):
                stale.unlink(missing_ok=True)
    path = cached_model(backend, files, cache_dir, build, name, key)
    try:
        return OnnxRunner(path)
    except Exception as exc:  # noqa: BLE001
        raise OnnxLoadError(f"ONNX Runtime cannot load {path} ({str(exc).splitlines()[0][:200]}); "
                            "use runtime=torch") from exc


def optimized_path(path: Path) -> Path:
    """Where ``path``'s graph is kept after ONNX Runtime's graph optimizations, next to it in the cache. Named
    by the ORT version (another may optimize or read the graph differently) and by the size and modification
    time of ``path``, so that a graph exported again never meets the copy of the one before."""
    import onnxruntime as ort

    stat = path.stat()
    return path.with_name(f"{path.stem}.opt-ort{ort.__version__}-{stat.st_size}-{stat.st_mtime_ns}.onnx")


def _session(path: Path, threads: int) -> Any:  # noqa: ANN401 - an ort.InferenceSession
    """A session on ``path``, from its optimized copy when there is one.

    Why keep the optimized graph: building a session spends most of its time in the graph optimizer, and every
    start-up of every stage pays it again (``duihua run --profile-startup``). The copy is written at the
    extended level, which holds no layout choices for this machine's CPU, so a cache copied to another machine
    still loads it; the session still runs every level on it, which finds little left to do. A copy that does
    not load is deleted and written again from ``path``.
    """
    import onnxruntime as ort

    def options(level: Any) -> Any:  # noqa: ANN401
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = level
        opts.log_severity_level = 3  # errors only: the optimizer's notes are not the user's business
        return opts

    levels, providers = ort.GraphOptimizationLevel, ["CPUExecutionProvider"]
    optimized = optimized_path(path)
    if not optimized.is_file():
        _write_optimized(path, optimized, options(levels.ORT_ENABLE_EXTENDED), providers)
    if optimized.is_file():
        try:
            return ort.InferenceSession(str(optimized), options(levels.ORT_ENABLE_ALL), providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
            log.warning("%s does not load (%s); optimizing %s again next time", optimized,
                        str(exc).splitlines()[0][:200], path.name)
            optimized.unlink(missing_ok=True)
    return ort.InferenceSession(str(path), options(levels.ORT_ENABLE_ALL), providers=providers)


def _write_optimized(path: Path, optimized: Path, opts: Any, providers: list[str]) -> None:  # noqa: ANN401
    """Optimize ``path`` into ``optimized`` by way of a private temporary file, so that concurrent starts never
    read a partial copy; a cache that cannot be written is left without one."""
    import onnxruntime as ort

    try:
        tmp = _private_temp(optimized)
    except OSError:
        return
    try:
        opts.optimized_model_filepath = str(tmp)
        ort.InferenceSession(str(path), opts, providers=providers)
        os.replace(tmp, optimized)
        for older in path.parent.glob(f"{path.stem}.opt-ort*.onnx"):
            if older != optimized:
                older.unlink(missing_ok=True)
    except OSError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


class OnnxRunner:
    """Runs an exported model on named inputs (int64 ids, or float tensors such as a K/V cache).
    Calling it returns the first output as a torch tensor; ``run`` returns every output by name."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = _session(self.path, threads or _intra_op_threads())
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.float_inputs = {i.name for i in self.session.get_inputs() if i.type == "tensor(float)"}

    def _feed(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Numpy arrays or torch tensors in; the dtypes the graph takes (float32 or int64) out."""
        return {k: np.ascontiguousarray(_as_numpy(inputs[k]), dtype=np.float32 if k in self.float_inputs else np.int64)
                for k in self.input_names}

    def run_numpy(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Every output by name, as numpy: the torch-free path."""
        outputs = self.session.run(None, self._feed(inputs))
        return dict(zip(self.output_names, outputs, strict=True))

    def first_numpy(self, inputs: Mapping[str, Any]) -> np.ndarray:
        """The first output, as numpy."""
        return self.session.run(self.output_names[:1], self._feed(inputs))[0]

    def __call__(self, inputs: Mapping[str, Any]) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.first_numpy(inputs))

    def run(self, inputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        import torch

        return {name: torch.from_numpy(o) for name, o in self.run_numpy(inputs).items()}


def _as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return value.detach().cpu().numpy()  # a torch tensor


_THREADS: int | None = None  # set_intra_op_threads; None: torch's count when torch is loaded, else ORT's default


def set_intra_op_threads(threads: int) -> None:
    """Intra-op threads of every ONNX session built from now on, and of torch's ops (now if torch is loaded,
    else through ``OMP_NUM_THREADS`` when it is), without importing torch for it."""
    global _THREADS
    _THREADS = threads
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    else:
        os.environ["OMP_NUM_THREADS"] = str(threads)


def _intra_op_threads() -> int:
    """What ``set_intra_op_threads`` set, else torch's count when torch is loaded (a caller may have set it),
    else 0 (ORT's default: one per physical core), so the torch-free path does not import torch to ask."""
    if _THREADS is not None:
        return _THREADS
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else 0
