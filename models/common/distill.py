"""What every teacher-ensemble distillation shares (``duihua train splitter-distill``, ``intent-distill``).

The recipe is the same for each stage: train several teachers that differ only in seed (and depth), reuse
the ones a killed run already finished, average their probabilities over the student's inputs, and keep
those soft labels on disk, because labelling is the slow part of a resumed run. The stage modules keep
what differs: how a teacher is trained, how an ensemble predicts, and what the soft labels look like.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.common.errors import TrainConfigError

log = logging.getLogger(__name__)
RESULT_FILE = "train_result.json"


def check_teachers(spec: Mapping[str, Any], minimum: int = 2) -> None:
    if len(spec.get("teachers") or []) < minimum:
        raise TrainConfigError(f"distill.teachers: an ensemble needs at least {minimum} teachers")


def teacher_config(cfg: Mapping[str, Any], spec: Mapping[str, Any], index: int) -> dict[str, Any]:
    """The student's config with a teacher's seed and depth, no soft-label loss, the teachers' trainer
    overrides (``distill.teacher_trainer``), and its own folders (``distill.teachers_dir/t<index>``)."""
    out = copy.deepcopy(dict(cfg))
    out["seed"] = int(spec["seed"])
    out["model"] = {**out["model"], "encoder_layers": spec.get("encoder_layers")}
    out["model"]["head"] = {**out["model"]["head"], "soft_weight": 0.0}
    out["trainer"] = {**out["trainer"], **dict(cfg["distill"].get("teacher_trainer") or {})}
    out["output_dir"] = str(Path(cfg["distill"]["teachers_dir"]) / f"t{index}")
    out["work_dir"] = str(Path(cfg["work_dir"]) / f"teacher-t{index}")
    return out


def train_or_reuse(folder: Path, train: Callable[[], dict[str, Any]], name: str) -> dict[str, Any]:
    """A teacher's training stats: read back when ``folder`` already holds a finished one (its
    ``train_result.json``), so a killed distillation resumes at the first unfinished teacher."""
    if (folder / RESULT_FILE).is_file():
        log.warning("%s: reusing %s", name, folder)
        return json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    stats = train()
    if not (folder / RESULT_FILE).is_file():
        (folder / RESULT_FILE).write_text(json.dumps(stats, indent=1, ensure_ascii=False), encoding="utf-8")
    return json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))


def cached_labels(path: Path, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, saved to ``path`` under ``key`` and read back while the key matches (same seed, data
    size and teacher weights); retrained teachers change the key, so their labels are recomputed.

    The work folder is writable by whoever runs training, so the file is read with ``weights_only=True``
    (tensors and plain containers, nothing callable): numpy arrays are stored as tensors and given back as
    numpy. An unreadable or foreign file is recomputed, never trusted."""
    if path.is_file():
        try:
            saved = torch.load(path, weights_only=True)
            if isinstance(saved, dict) and saved.get("key") == key:
                return _from_tensors(saved["labels"])
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, KeyError) as exc:
            log.warning("recomputing soft labels: %s is unreadable (%s)", path, str(exc).splitlines()[0][:200])
    labels = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"key": key, "labels": _to_tensors(labels)}, tmp)
    os.replace(tmp, path)  # a run killed while saving leaves the old file or none, never half of one
    return labels


def _to_tensors(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, list | tuple):
        return type(value)(_to_tensors(v) for v in value)
    return value


def _from_tensors(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, list | tuple):
        return type(value)(_from_tensors(v) for v in value)
    return value


def weights_key(prefix: str, weight_files: list[Path]) -> str:
    """A cache key that changes when any teacher is retrained."""
    return f"{prefix}-{[w.stat().st_mtime_ns for w in weight_files]}"
