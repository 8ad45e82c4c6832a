"""What every neural stage checks before loading a checkpoint: the runtime settings, and the weights' mtime
(part of the shared-model cache key, so a retrained checkpoint is picked up without a restart)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from models.common.onnx import BACKENDS, OnnxLoadError
from models.common.persistence import WEIGHTS_FILE
from models.common.precision import resolve_precision
from pipeline.errors import ConfigError


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
