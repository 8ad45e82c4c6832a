"""How every neural stage loads its checkpoint: the runtime settings checked, one loaded model shared by
every pipeline of the process that asks for the same checkpoint with the same options (inference is
read-only), the weights' mtime in that key (a retrained checkpoint is picked up without a restart), and a
missing checkpoint or an unloadable ONNX graph reported as one line naming the config key."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Hashable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from models.common.onnx import BACKENDS, OnnxLoadError
from models.common.persistence import WEIGHTS_FILE
from models.common.precision import resolve_precision
from pipeline.errors import ConfigError

T = TypeVar("T")


def resolve_runtime(backend: str, precision: str, device: str) -> str:
    """Validate ``runtime.backend``; return the concrete precision (``auto`` resolved for this device)."""
    if backend not in BACKENDS:
        raise ConfigError(f"runtime.backend: expected one of {list(BACKENDS)}, got {backend!r}")
    try:
        return resolve_precision(precision, device)
    except ValueError as exc:
        raise ConfigError(f"runtime.precision: {exc}") from exc


def weights_mtime(folder: Path) -> int:
    path = folder / WEIGHTS_FILE
    return path.stat().st_mtime_ns if path.is_file() else 0


@contextlib.contextmanager
def onnx_load_errors(backend: str) -> Iterator[None]:
    """A model that ONNX Runtime cannot load even after a fresh export (``models/common/onnx.py``) is a
    configuration problem: one readable line, exit code 2, and the way out (``runtime=torch``)."""
    try:
        yield
    except OnnxLoadError as exc:
        raise ConfigError(f"runtime.backend={backend}: {exc}") from exc  # the composer names the stage


def about_checkpoint(exc: FileNotFoundError, folder: Path) -> bool:
    """Whether a missing file is the checkpoint's: the loaders' own "no ... checkpoint in DIR" messages carry
    no file name; an OS error does, and one outside ``folder`` (the ONNX cache) is not the checkpoint's fault."""
    return exc.filename is None or Path(os.path.abspath(os.fsdecode(exc.filename))).is_relative_to(folder)


@contextlib.contextmanager
def checkpoint_errors(key: str, folder: Path, way_out: str = "") -> Iterator[None]:
    """A checkpoint that is not there is the user's to fix: one line naming the config key (``key``), what is
    missing and ``way_out`` (how to train one, or the stage to use instead). A missing file elsewhere (a cache
    folder that cannot be created) propagates: the composer names ``paths.cache`` for it."""
    try:
        yield
    except FileNotFoundError as exc:
        if not about_checkpoint(exc, folder):
            raise
        raise ConfigError(f"{key}: {exc}{way_out}") from exc


@lru_cache(maxsize=16)
def _shared(load: Callable[..., Any], folder: Path, mtime_ns: int, options: tuple[tuple[str, Hashable], ...]
            ) -> Any:  # noqa: ANN401 - whatever ``load`` returns
    return load(folder, **dict(options))


def load_checkpoint(load: Callable[..., T], key: str, folder: Path, way_out: str = "", **options: Hashable) -> T:
    """``load(folder, **options)``, shared (module docstring); errors name ``key`` and ``way_out``.

    ``options["backend"]``, when given, is also the runtime named in an ONNX load error.
    """
    backend = options.get("backend")
    onnx_errors = onnx_load_errors(str(backend)) if backend is not None else contextlib.nullcontext()
    with checkpoint_errors(key, folder, way_out), onnx_errors:
        return _shared(load, folder, weights_mtime(folder), tuple(sorted(options.items())))


class LoadOnce(Generic[T]):
    """A model or index built by the first caller that asks for it (``get``), then kept; callers that ask
    meanwhile wait for it. Why: stages load their heavy parts on first use, and the HTTP server's worker
    threads may all send that first request at once; the build must run once."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build: Callable[[], T] | None = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                    self._build = None   # what the build held (a loader's arguments, the pairs to index) goes
        return self._value

    @property
    def done(self) -> bool:
        """Whether it has been built."""
        return self._value is not None
