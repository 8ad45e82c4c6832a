"""``duihua train intent-fewshot``: cloze-scored SMP2017 domain classification (``finetune.method=pet|ptuning``).

The slot-aware classifier has no MLM head to score a pattern with, so these two methods train the cloze
models of ``methods.py`` instead (with ``data.shots=K`` on K examples per domain; the rest of the training
file is the unlabeled pool for ``finetune.pet.distill``). ``output_dir`` receives one delta per pattern
(``pet-0``, ``pet-1``, … or ``ptuning-0``; ``pet-distilled`` with distillation) and ``train_result.json``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.common.errors import TrainConfigError
from models.common.training import write_train_result
from models.fewshot.methods import run_method
from models.intent.data import load_splits
from models.intent.shots import sample_shots
from models.intent.train import check_config as check_intent_config

CLOZE_METHODS = ("pet", "ptuning")


def check_config(cfg: Mapping[str, Any]) -> None:
    """Fail in a second on what a user can get wrong: the intent trainer's checks, then the cloze method's."""
    finetune = cfg.get("finetune") or {}
    method = finetune.get("method")
    if method not in CLOZE_METHODS:
        raise TrainConfigError(f"finetune.method={method}: intent-fewshot trains pet or ptuning "
                               "(the other methods fine-tune the shipped classifier: `duihua train intent`)")
    if list(cfg["data"]["datasets"]) != ["smp2017"]:
        raise TrainConfigError(f"finetune.method={method} classifies SMP2017 domains with a cloze pattern; "
                               "set data.datasets=[smp2017]")
    check_intent_config({**cfg, "finetune": {**finetune, "method": "full"}})


def train_from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``duihua train intent-fewshot``: ``finetune.method`` cloze models on ``data.shots`` per domain."""
    check_config(cfg)
    t0 = time.time()
    data, finetune = cfg["data"], cfg["finetune"]
    method, seed = finetune["method"], int(cfg["seed"])
    train_groups, dev_groups = load_splits(data["dir"], float(data["dev_percent"]))
    train, dev = train_groups["smp2017"], dev_groups["smp2017"]
    labels = sorted({x.label for x in train})
    unlabeled: list[str] = []
    if data.get("shots"):
        train, unlabeled = sample_shots(train, int(data["shots"]), seed)
    out = Path(cfg["output_dir"])
    run = run_method(finetune, method, cfg["encoder"]["pretrained"], [x.text for x in train],
                     [x.label for x in train], [x.text for x in dev], labels, seed, unlabeled, out)
    pred = run.probabilities.argmax(1)
    accuracy = 100 * sum(labels[p] == x.label for p, x in zip(pred, dev, strict=True)) / len(dev)
    result = {"smp2017_accuracy": round(accuracy, 2), "finetune_method": method, "train_examples": len(train),
              "unlabeled_examples": len(unlabeled), "dev_examples": len(dev), "trained_parameters": run.trainable,
              "stored_bytes": run.stored_bytes, "train_s": round(run.train_s, 1), "wall_s": round(time.time() - t0, 1)}
    if len(run.extra.get("patterns", [])) > 1:
        for i, p in enumerate(run.extra["patterns"]):
            hits = sum(labels[j] == x.label for j, x in zip(p.argmax(1), dev, strict=True))
            result[f"pattern_{i}_accuracy"] = round(100 * hits / len(dev), 2)
    out.mkdir(parents=True, exist_ok=True)
    write_train_result(out, result)
    return result
