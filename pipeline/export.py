"""``duihua export <stage>``: the ONNX files a neural stage runs on under ``runtime=onnx|onnx-int8``, with
their parity against eager fp32 torch.

Export goes through the same code path as the runtime (``from_pretrained(backend=...)``), so the files land
in the cache the pipeline reads (``paths.cache``/onnx/<checkpoint hash>/) and ``--output DIR`` gets copies.
Each stage is one graph with dynamic batch and sequence axes, the generator two (a decoder step with past
keys/values, and its output head); ``.int8.onnx`` is the dynamically quantized twin (int8 MatMul weights).

Parity, per backend: the largest absolute difference of the raw outputs (logits / probabilities) from eager
fp32 torch on a few real-shaped queries, and the stage's dev metric with each backend on its dev set. Both
come from the stage's task file (``pipeline/tasks/<stage>.py``). A metric whose data is not there (no
``paths.data``, dev files not written) is skipped, with a note in its name, rather than failing the export.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.common.onnx import BACKENDS
from pipeline.errors import InputError
from pipeline.tasks import find_task, names_with

EXPORT_STAGES = tuple(names_with("exporter"))   # each stage's load, parity outputs and dev metric: pipeline/tasks/
PROBES = ["明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度", "我想听周杰伦的稻香", "打开qq",
          "从北京南站到上海虹桥的高铁票还有吗", "你好呀今天过得怎么样", "把张三的电话发给李四"]


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return float(max(np.abs(np.asarray(x, np.float32) - np.asarray(y, np.float32)).max()
                     for x, y in zip(a, b, strict=True)))


def export_stage(stage: str, checkpoint: Path, cfg: Mapping[str, Any], output: Path | None = None,
                 with_metric: bool = True, log: Callable[[str], None] = print) -> tuple[list[tuple], dict[str, Any]]:
    """Export ``checkpoint`` for both ONNX backends; rows of the parity table and the metrics."""
    if stage not in EXPORT_STAGES:
        raise InputError(f"duihua export: stage must be one of {', '.join(EXPORT_STAGES)}, got {stage!r}")
    if not checkpoint.is_dir():
        raise InputError(f"checkpoint folder not found: {checkpoint}")
    exporter = find_task(stage).exporter
    cache = str(cfg["paths"]["cache"])
    rows, metrics = [], {"stage": stage, "checkpoint": str(checkpoint)}
    reference = None
    for backend in BACKENDS:
        t0 = time.perf_counter()
        try:
            model = exporter.load(checkpoint, backend, cache)
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from exc
        load_s = time.perf_counter() - t0
        outputs = exporter.raw_outputs(model, PROBES)
        reference = outputs if reference is None else reference
        diff = max_abs_diff(reference, outputs)
        files = sorted(_onnx_files(model))
        size = sum(f.stat().st_size for f in files) / 1e6
        name, value = exporter.dev_metric(model, cfg) if with_metric else ("dev metric (skipped)", None)
        if output is not None and files:
            output.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copy2(f, output / f.name)
        rows.append((backend, ", ".join(f.name for f in files) or "(checkpoint)", round(size, 1) if files else "",
                     f"{diff:.2e}", "–" if value is None else value, round(load_s, 1)))
        metrics[f"{backend}_max_abs_diff"] = round(diff, 6)
        metrics[f"{backend}_dev_metric"] = value
        metrics["dev_metric"] = name
        if files:
            metrics[f"{backend}_files"] = [str(f) for f in files]
    return rows, metrics


def _onnx_files(model: Any) -> list[Path]:
    runners = [getattr(model, "onnx", None)]
    decoder = getattr(model, "decoder", None)
    runners += [getattr(decoder, "step", None), getattr(decoder, "head", None)]
    return [r.path for r in runners if r is not None and hasattr(r, "path")]
