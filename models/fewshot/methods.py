"""Domain classification with each ``finetune.method``, trained with the plain loop: one function per family.

* ``train_classifier``: ``TextClassifier`` with full / freeze / bitfit / adapter (and classifier-style
  ptuning) applied to its encoder;
* ``train_cloze``: one ``ClozeClassifier`` per pattern (``pet``: the encoder and MLM head train as
  ``finetune.pet.tune`` says; ``ptuning``: prompt vectors only), ensembled by averaging their label
  distributions; optionally distilled (``pet.distill``): the ensemble labels the unlabeled texts, and a
  ``TextClassifier`` learns from those soft labels plus the labelled examples.

Each trained model is saved as a delta (``models/common/delta.py``) when ``out_dir`` is given: only its
trained parameters and a reference to the base encoder, and ``load_fewshot`` composes it again.
Used by ``duihua train intent-fewshot`` (``train.py``) and ``bench/fewshot.py``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.common.char_ids import CharIds
from models.common.delta import load_delta, read_delta_config, resolve_base, save_delta
from models.common.finetune import apply_finetune, finetune_kwargs, parameter_counts, unused_ids
from models.common.simple_training import steps_for, train_steps
from models.common.training import set_seed
from models.encoder.modeling import load_encoder
from models.fewshot.cloze import ClozeClassifier, parse_pattern, verbalizer_ids
from models.fewshot.text_classifier import TextClassifier, encode_text_ids


def load_fp32(base: str | Path, mlm: bool = False) -> tuple[Any, Any]:
    """The base encoder (or masked LM) in fp32: the shipped weights are fp16, and training needs fp32."""
    model, tokenizer = load_encoder(base, mlm=mlm, **({} if mlm else {"add_pooling_layer": False}))
    return model.float(), tokenizer


@dataclass
class FewShotRun:
    method: str
    probabilities: np.ndarray              # dev label distributions
    trainable: int                         # parameters trained (all patterns together for pet)
    stored_bytes: int                      # the delta artefacts on disk (0 when not saved)
    train_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def schedule_of(cfg: Mapping[str, Any], method: str, n: int) -> dict[str, Any]:
    """Steps, batch size and learning rates for ``method`` on ``n`` examples (``finetune.small_data``)."""
    small = cfg["small_data"]
    rates = cfg.get("learning_rate") or {}
    return {"steps": steps_for(n, int(small["batch_size"]), float(small["epochs"]), small.get("max_steps"),
                               int(small.get("min_steps", 0))),
            "batch_size": int(small["batch_size"]), "lr": float(rates.get(method) or small["learning_rate"]),
            "head_lr": float(small["head_learning_rate"])}


def _encoder_knobs(cfg: Mapping[str, Any], method: str) -> dict[str, Any]:
    knobs = finetune_kwargs(cfg)
    knobs["method"] = method
    return knobs


def train_classifier(cfg: Mapping[str, Any], method: str, base: str | Path, texts: Sequence[str],
                     targets: Sequence[int] | np.ndarray, n_labels: int, seed: int) -> tuple[TextClassifier, CharIds]:
    """A ``TextClassifier`` trained with ``method``; ``targets`` are label indices or (distillation) rows of a
    label distribution."""
    set_seed(seed)
    encoder, tokenizer = load_fp32(base)
    char_ids = CharIds.from_tokenizer(tokenizer)
    model = TextClassifier(encoder, n_labels)
    apply_finetune(model, model.encoder, prompt_ids=unused_ids(encoder, tokenizer), **_encoder_knobs(cfg, method))
    rows = [encode_text_ids(t, char_ids) for t in texts]
    soft = isinstance(targets, np.ndarray) and targets.dtype.kind == "f"
    items = list(zip(rows, targets, strict=True))
    sched = schedule_of(cfg, method, len(items))

    def loss(m: TextClassifier, batch: list) -> torch.Tensor:
        ys = np.asarray([y for _, y in batch])
        return m.loss([r for r, _ in batch], torch.tensor(ys, dtype=torch.float32 if soft else torch.long))

    train_steps(model, items, loss, sched["steps"], sched["lr"], sched["head_lr"], sched["batch_size"], seed,
                desc=method)
    return model, char_ids


def cloze_knobs(cfg: Mapping[str, Any], method: str) -> dict[str, Any]:
    """``apply_finetune`` knobs for a cloze model's encoder: ptuning, or pet's ``tune`` method."""
    return _encoder_knobs(cfg, "ptuning" if method == "ptuning" else cfg["pet"]["tune"])


def build_cloze(cfg: Mapping[str, Any], method: str, base: str | Path, pattern_text: str, labels: Sequence[str]
                ) -> ClozeClassifier:
    mlm, tokenizer = load_fp32(base, mlm=True)
    char_ids = CharIds.from_tokenizer(tokenizer)
    pattern = parse_pattern(pattern_text, char_ids)
    words = verbalizer_ids(cfg["pet"]["verbalizer"], labels, pattern.n_masks, char_ids, pattern_text)
    model = ClozeClassifier(mlm, pattern, words, char_ids)
    apply_finetune(model, model.encoder, prompt_ids=unused_ids(model.encoder, tokenizer), **cloze_knobs(cfg, method))
    if method == "ptuning":   # the MLM head is part of the frozen pre-trained model here, not a new task head
        for p in model.mlm.cls.parameters():
            p.requires_grad = False
    return model


def train_cloze(cfg: Mapping[str, Any], method: str, base: str | Path, pattern_text: str, texts: Sequence[str],
                targets: Sequence[int], labels: Sequence[str], seed: int) -> ClozeClassifier:
    set_seed(seed)
    model = build_cloze(cfg, method, base, pattern_text, labels)
    items = [(*model.encode(t), y) for t, y in zip(texts, targets, strict=True)]
    sched = schedule_of(cfg, method, len(items))
    rng = random.Random(seed)
    mlm_weight = float(cfg.get("mlm_weight") or 0.0)
    train_steps(model, items, lambda m, b: m.loss(b, mlm_weight, rng), sched["steps"], sched["lr"],
                sched["head_lr"], sched["batch_size"], seed, desc=f"{method} {pattern_text}")
    return model


def patterns_for(cfg: Mapping[str, Any], method: str) -> list[str]:
    return [cfg["ptuning_pattern"]] if method == "ptuning" else list(cfg["pet"]["patterns"])


def _save(model: torch.nn.Module, out_dir: Path | None, name: str, base: str | Path, method: str,
          knobs: Mapping[str, Any], task: Mapping[str, Any]) -> int:
    if out_dir is None:
        return 0
    prompt = getattr(model.encoder, "prompt", None)
    if prompt is not None:
        prompt.bake()   # an MLP reparameterisation only helps training; store the prompts it produced
    return save_delta(model, out_dir / name, base, method, {**knobs, "reparam": "none"}, task)


def run_method(cfg: Mapping[str, Any], method: str, base: str | Path, train_texts: Sequence[str],
               train_labels: Sequence[str], dev_texts: Sequence[str], labels: Sequence[str], seed: int,
               unlabeled: Sequence[str] = (), out_dir: Path | None = None) -> FewShotRun:
    """Train ``method`` on the labelled texts, return dev label distributions, sizes and time."""
    index = {x: i for i, x in enumerate(labels)}
    y = [index[x] for x in train_labels]
    t0 = time.perf_counter()
    if method in ("pet", "ptuning"):
        distill = method == "pet" and bool(cfg["pet"].get("distill")) and len(unlabeled) > 0
        dev_probs, pseudo, trainable, stored = [], [], 0, 0
        for i, pattern in enumerate(patterns_for(cfg, method)):
            model = train_cloze(cfg, method, base, pattern, train_texts, y, labels, seed)
            dev_probs.append(model.probabilities(dev_texts))
            if distill:
                pseudo.append(model.probabilities(unlabeled))
            trainable += parameter_counts(model)["trainable"]
            stored += _save(model, out_dir, f"{method}-{i}", base, method, cloze_knobs(cfg, method),
                            {"kind": "cloze", "pattern": pattern, "labels": list(labels),
                             "verbalizer": {x: cfg["pet"]["verbalizer"][x] for x in labels}})
        ensemble = np.mean(dev_probs, axis=0)
        extra = {"patterns": dev_probs, "ensemble": ensemble, "ensemble_trainable": trainable,
                 "ensemble_stored_bytes": stored, "ensemble_s": time.perf_counter() - t0}
        if not distill:
            return FewShotRun(method, ensemble, trainable, stored, time.perf_counter() - t0, extra)
        # the ensemble's label distributions on the unlabeled texts teach a plain classifier (PET's last step)
        hard = np.eye(len(labels), dtype=np.float32)[y]
        soft = np.mean(pseudo, axis=0).astype(np.float32)
        student, char_ids = train_classifier(cfg, "full", base, [*train_texts, *unlabeled],
                                             np.concatenate([hard, soft]), len(labels), seed)
        dist = student.probabilities([encode_text_ids(t, char_ids) for t in dev_texts])
        stored = _save(student, out_dir, "pet-distilled", base, "full", _encoder_knobs(cfg, "full"),
                       {"kind": "classifier", "labels": list(labels)})
        return FewShotRun(method, dist, parameter_counts(student)["trainable"], stored,
                          time.perf_counter() - t0, extra)
    model, char_ids = train_classifier(cfg, method, base, train_texts, y, len(labels), seed)
    dist = model.probabilities([encode_text_ids(t, char_ids) for t in dev_texts])
    stored = _save(model, out_dir, method, base, method, _encoder_knobs(cfg, method),
                   {"kind": "classifier", "labels": list(labels)})
    return FewShotRun(method, dist, parameter_counts(model)["trainable"], stored, time.perf_counter() - t0)


def load_fewshot(folder: str | Path, cfg: Mapping[str, Any] | None = None) -> torch.nn.Module:
    """Compose a saved delta with its base encoder: a ``TextClassifier`` or a ``ClozeClassifier``."""
    config = read_delta_config(folder)
    base = resolve_base(folder, config["base"])
    task, knobs = config["task"], config["finetune"]
    if task["kind"] == "classifier":
        encoder, tokenizer = load_fp32(base)
        model = TextClassifier(encoder, len(task["labels"]))
        apply_finetune(model, model.encoder, prompt_ids=unused_ids(encoder, tokenizer), **knobs)
    else:
        method = config["method"]
        cloze_cfg = {"pet": {"verbalizer": task["verbalizer"], "tune": knobs["method"]}, **knobs}
        model = build_cloze(cloze_cfg, method, base, task["pattern"], task["labels"])
    return load_delta(model, folder).eval()
