"""Slot-aware intent classification (gated slot attention), trained directly or distilled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.tasks import Exporter, StageTask


def load(folder: Path, backend: str, cache_dir: str) -> Any:
    from models.intent.inference import IntentClassifier

    return IntentClassifier.from_pretrained(folder, backend=backend, cache_dir=cache_dir)


def raw_outputs(model: Any, probes: Sequence[str]) -> list:
    dom, intent, _ = model.logits(probes, [[] for _ in probes])
    return [dom, intent]


def dev_metric(model: Any, cfg: Mapping[str, Any]) -> tuple[str, float | None]:
    """Accuracy on SMP2017 ``develop`` (domain) and the SMP2019 dev split (intent), averaged."""
    import numpy as np
    from omegaconf import OmegaConf

    from models.intent.data import load_splits, missing_files
    from models.intent.scoring import score
    from models.lexicon.features import featurizer_from_config
    from pipeline.config import load_config

    data = Path(cfg["paths"]["data"])
    train_cfg = OmegaConf.to_container(load_config("train/intent", [f"paths.data={data}"]), resolve=True)
    missing = missing_files(train_cfg["data"]["dir"])  # what load_splits reads
    if missing:
        return f"intent accuracy ({Path(train_cfg['data']['dir']) / missing[0]} not found)", None
    _, dev = load_splits(train_cfg["data"]["dir"], float(train_cfg["data"]["dev_percent"]))
    featurize, _ = featurizer_from_config(train_cfg)
    accs = []
    for name in ("smp2017", "smp2019"):
        mode = "intent" if name == "smp2019" else "domain"
        texts = [x.text for x in dev[name]]
        pred = model.predict(texts, featurize(texts), mode=mode)
        accs.append(score(dev[name], [p.label for p in pred])["accuracy"])
    return "intent accuracy SMP2017 / SMP2019 (mean)", round(float(np.mean(accs)), 2)


TASK = StageTask(
    "intent",
    {"intent": "models.intent.train:train_from_config",
     "intent-distill": "models.intent.distill:distill_from_config",
     "intent-fewshot": "models.fewshot.train:train_from_config"},   # research: cloze models, not a stage artefact
    evaluator="pipeline.evaluate.intent:evaluate",
    checkpoint_overrides=lambda d: ["intent=slot_attention", f"intent.checkpoint={d}"],
    exporter=Exporter(load, raw_outputs, dev_metric),
)
