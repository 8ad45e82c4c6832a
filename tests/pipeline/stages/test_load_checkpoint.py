"""load_checkpoint: one loaded model per checkpoint and options, a retrained checkpoint picked up, and a
missing checkpoint reported as one line naming the config key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.common.persistence import WEIGHTS_FILE
from pipeline.errors import ConfigError
from pipeline.stages.runtime_checks import load_checkpoint

LOADS: list[tuple[Path, dict]] = []


def fake_load(folder: Path, **options: object) -> object:
    """Stands in for a model's from_pretrained: counts the loads, fails like one on a missing checkpoint."""
    if not (folder / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"no checkpoint in {folder}")
    LOADS.append((folder, options))
    return object()


def test_equal_requests_share_one_model_and_a_retrained_one_is_reloaded(tmp_path: Path) -> None:
    (tmp_path / WEIGHTS_FILE).write_bytes(b"v1")
    first = load_checkpoint(fake_load, "x.checkpoint", tmp_path, backend="onnx", batch_chars=64)
    assert load_checkpoint(fake_load, "x.checkpoint", tmp_path, batch_chars=64, backend="onnx") is first
    assert load_checkpoint(fake_load, "x.checkpoint", tmp_path, backend="torch", batch_chars=64) is not first
    stat = (tmp_path / WEIGHTS_FILE).stat()
    os.utime(tmp_path / WEIGHTS_FILE, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))   # retrained
    assert load_checkpoint(fake_load, "x.checkpoint", tmp_path, backend="onnx", batch_chars=64) is not first
    assert len([f for f, _ in LOADS if f == tmp_path]) == 3


def test_a_missing_checkpoint_names_the_key_and_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^x\.checkpoint: no checkpoint in .*, or use x=none$"):
        load_checkpoint(fake_load, "x.checkpoint", tmp_path, ", or use x=none", backend="onnx")
