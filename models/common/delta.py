"""Delta artefacts: only the parameters a fine-tuning method trained, plus a reference to the base encoder.

Why: a deployment serves many tasks from one encoder; a BitFit or adapter task then costs kilobytes, not a
copy of the encoder. Layout of a delta folder::

    delta.json          {"format": "duihua-delta", "method", "finetune": knobs, "base": {"path", "relative",
                         "sha256"}, "task": {...whatever the model needs to rebuild its head...}}
    delta.safetensors   the trained tensors (fp16), named as in the composed model's state_dict

Loading composes: the caller rebuilds the model from the base encoder (the same code path as training, with
``apply_finetune`` and the same knobs), then ``load_delta`` checks the base's hash and copies the tensors in.
A base that changed since training is an error, not a silent mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from models.common.errors import TrainConfigError

DELTA_CONFIG = "delta.json"
DELTA_WEIGHTS = "delta.safetensors"
BASE_WEIGHTS = "model.safetensors"


def base_hash(base: str | Path) -> str:
    """sha256 of the base encoder's weights file (first 16 hex digits are plenty to tell checkpoints apart)."""
    digest = hashlib.sha256()
    with (Path(base) / BASE_WEIGHTS).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def base_reference(base: str | Path, folder: str | Path) -> dict[str, str]:
    """How a delta in ``folder`` finds its base again: the path as given, relative to the delta, and the hash."""
    return {"path": str(base), "relative": os.path.relpath(Path(base).resolve(), Path(folder).resolve()),
            "sha256": base_hash(base)}


def trained_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters with ``requires_grad`` (what the method trained), by state_dict name."""
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def save_delta(model: torch.nn.Module, folder: str | Path, base: str | Path, method: str,
               finetune: Mapping[str, Any], task: Mapping[str, Any], fp16: bool = True) -> int:
    """Write the delta folder; returns the stored bytes (both files)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous().cpu()
             for k, v in trained_state(model).items()}
    save_file(state, str(folder / DELTA_WEIGHTS))
    config = {"format": "duihua-delta", "method": method, "finetune": dict(finetune),
              "base": base_reference(base, folder), "task": dict(task)}
    (folder / DELTA_CONFIG).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
    return stored_bytes(folder)


def stored_bytes(folder: str | Path) -> int:
    return sum((Path(folder) / f).stat().st_size for f in (DELTA_CONFIG, DELTA_WEIGHTS))


def read_delta_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / DELTA_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"no delta artefact in {folder} (missing {DELTA_CONFIG})")
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("format") != "duihua-delta":
        raise ValueError(f"{path}: not a duihua delta (format {config.get('format')!r})")
    return config


def resolve_base(folder: str | Path, base: Mapping[str, Any]) -> Path:
    """The base encoder folder (``base``: a ``base_reference``): where it was relative to the delta, else the
    recorded path; its hash must match the one recorded at training time."""
    for candidate in (Path(folder) / base["relative"], Path(base["path"])):
        if (candidate / BASE_WEIGHTS).is_file():
            if base_hash(candidate) != base["sha256"]:
                raise TrainConfigError(f"{folder}: base encoder {candidate} has changed since this delta was "
                                       f"trained (sha256 {base_hash(candidate)} != {base['sha256']})")
            return candidate.resolve()
    raise TrainConfigError(f"{folder}: base encoder not found at {base['relative']} or {base['path']}")


def load_delta(model: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    """Copy the delta's tensors into ``model`` (already rebuilt from the base with the same method)."""
    state = load_file(str(Path(folder) / DELTA_WEIGHTS))
    own = model.state_dict()
    unknown = [k for k in state if k not in own]
    if unknown:
        raise ValueError(f"{folder}: delta tensors {unknown[:5]} do not exist in the rebuilt model "
                         "(was it rebuilt with the same finetune method and knobs?)")
    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor.to(own[name].dtype))
    return model
