"""``duihua train intent-distill``: intent teachers -> their averaged probabilities -> a smaller student.

The splitter's recipe (``models/splitter/distill.py``; shared pieces in ``models/common/distill.py``) applied
to the slot-aware intent classifier:

1. Train each teacher in ``distill.teachers`` (own seed, own depth, own entity-swap and tag-dropout draw) with
   ``duihua train intent``'s trainer into ``distill.teachers_dir/t<i>``; finished teachers are reused.
2. ``IntentEnsemble`` averages the teachers' *calibrated* domain and intent probabilities (each teacher's dev
   temperature): calibrated targets are soft where the teachers are unsure and agree on how unsure.
3. Train the student (``model.encoder_layers``, fewer than the teachers) on every augmented training input,
   labelled by the ensemble as the student sees it: ``soft_weight * CE(ensemble) + (1 - soft_weight) *
   CE(hard)``, both heads (``SlotAwareIntentModel.soft_loss``).
4. Score every teacher, the ensemble and the student on the same dev sets in the same run; the table and the
   student / ensemble accuracy ratio go into the student's model card and ``train_result.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.common.distill import (
    RESULT_FILE,
    cached_labels,
    check_teachers,
    teacher_config,
    train_or_reuse,
    weights_key,
)
from models.intent.data import load_splits
from models.intent.inference import IntentClassifier, IntentResult
from models.intent.modeling import WEIGHTS_FILE
from models.intent.train import Featurizer, check_config, dev_scores, summary
from models.intent.train import train as train_model


class IntentEnsemble:
    """Several intent classifiers with one label space; ``predict`` decodes their mean calibrated probabilities."""

    def __init__(self, members: Sequence[IntentClassifier]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0].head
        for m in members[1:]:
            if m.head.domains != first.domains or m.head.intents != first.intents:
                raise ValueError("ensemble members must share their domain and intent label lists")
        self.members = list(members)

    def probabilities(self, texts: Sequence[str], char_slots: Sequence | None) -> tuple[np.ndarray, np.ndarray]:
        slots = char_slots if char_slots is not None else [[] for _ in texts]
        parts = [m.probabilities(*m.logits(texts, slots)[:2]) for m in self.members]
        return (np.mean([p[0] for p in parts], axis=0), np.mean([p[1] for p in parts], axis=0))

    def soft_labels(self, texts: Sequence[str], char_slots: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
        p_dom, p_int = self.probabilities(texts, char_slots)
        return [(p_dom[i].astype(np.float32), p_int[i].astype(np.float32)) for i in range(len(texts))]

    def predict(self, texts: Sequence[str], char_slots: Sequence | None = None, top_k: int = 3,
                mode: str = "hierarchical") -> list[IntentResult]:
        decoded = self.members[0].decode_probabilities(*self.probabilities(texts, char_slots), top_k, mode)
        return [IntentResult(label, domain, intent, score, top) for label, domain, intent, score, top in decoded]


def hardware() -> str:
    return f"1 GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else \
        f"{torch.get_num_threads()} CPU threads"


def comparison_table(comparison: Mapping[str, Mapping[str, Mapping[str, Any]]], ratio: Mapping[str, float]) -> str:
    names = list(next(iter(comparison.values())))
    lines = ["## Teachers, ensemble and student (same run, same dev sets, fp32 torch)", "",
             "| system | " + " | ".join(f"{n} accuracy" for n in names) + " | " +
             " | ".join(f"{n} queries/s" for n in names) + " |",
             "|---|" + "---|" * (2 * len(names))]
    for system, scores in comparison.items():
        acc = " | ".join(f"{scores[n]['accuracy']:.2f}" for n in names)
        qps = " | ".join(f"{scores[n]['queries_per_s']:,.0f}" for n in names)
        lines.append(f"| {system} | {acc} | {qps} |")
    lines += ["", "Student accuracy as a share of the ensemble's: " +
              ", ".join(f"{n} {100 * r:.1f} %" for n, r in ratio.items()) + " (target ≥ 98 %).", ""]
    return "\n".join(lines)


def distill(cfg: Mapping[str, Any], featurize: Featurizer, entity_pool: Mapping[str, Sequence[str]] | None = None,
            callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    spec = cfg["distill"]
    check_teachers(spec)
    check_config(cfg)
    t0 = time.time()
    teachers, teacher_stats = [], []
    for i, teacher_spec in enumerate(spec["teachers"]):
        tcfg = teacher_config(cfg, teacher_spec, i)
        folder = Path(tcfg["output_dir"])
        teacher_stats.append(train_or_reuse(folder, lambda tcfg=tcfg: train_model(tcfg, featurize, entity_pool,
                                                                                     callbacks), f"teacher t{i}"))
        teachers.append(IntentClassifier.from_pretrained(folder))
    ensemble = IntentEnsemble(teachers)
    weights = [Path(spec["teachers_dir"]) / f"t{i}" / WEIGHTS_FILE for i in range(len(teachers))]

    def labeler(texts: Sequence[str], char_slots: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
        key = weights_key(f"{cfg['seed']}-{len(texts)}", weights)   # retrained teachers: relabel
        return cached_labels(Path(cfg["work_dir"]) / "soft_labels.pt", key,
                             lambda: ensemble.soft_labels(texts, char_slots))

    train_model(cfg, featurize, entity_pool, callbacks, soft_labels=labeler)
    output_dir = Path(cfg["output_dir"])
    result = json.loads((output_dir / RESULT_FILE).read_text(encoding="utf-8"))

    # the comparison: every system on the same dev sets, same features, fp32 torch, in this run
    _, dev = load_splits(cfg["data"]["dir"], float(cfg["data"]["dev_percent"]))
    dev = {k: v for k, v in dev.items() if k in cfg["data"]["datasets"]}
    dev_slots = {k: featurize([x.text for x in v]) for k, v in dev.items()}
    comparison = {f"teacher t{i}": dev_scores(t, dev, dev_slots) for i, t in enumerate(teachers)}
    comparison["ensemble"] = dev_scores(ensemble, dev, dev_slots)
    comparison["student"] = dev_scores(IntentClassifier.from_pretrained(output_dir), dev, dev_slots)
    ratio = {k: round(comparison["student"][k]["accuracy"] / comparison["ensemble"][k]["accuracy"], 4) for k in dev}
    result.update(comparison=comparison, student_vs_ensemble=ratio, hardware=hardware(),
                  teachers=[{"seed": s["seed"], "encoder_layers": s.get("encoder_layers"),
                             "train_runtime_s": st.get("train_runtime_s")}
                            for s, st in zip(spec["teachers"], teacher_stats, strict=True)],
                  distill_wall_s=round(time.time() - t0, 1))
    (output_dir / RESULT_FILE).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    from models.intent.model_card import write_model_card

    write_model_card(output_dir, cfg, result, extra=comparison_table(comparison, ratio))
    return {**summary(result), **{f"{k}_student_vs_ensemble": v for k, v in ratio.items()},
            **{f"{k}_ensemble_accuracy": comparison["ensemble"][k]["accuracy"] for k in dev}}


def distill_from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``duihua train intent-distill``: the gazetteer featurizer from the config's ``slots`` node, then ``distill``."""
    from models.lexicon.features import featurizer_from_config

    check_teachers(cfg["distill"])   # config mistakes fail in a second, before the gazetteer is built
    check_config(cfg)
    featurize, pool = featurizer_from_config(cfg)
    return distill(cfg, featurize, pool)
