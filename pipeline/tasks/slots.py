"""Slot filling: the learned tagger fused with the gazetteer (``slots=fused``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.tasks import Exporter, StageTask


def load(folder: Path, backend: str, cache_dir: str) -> Any:
    from models.slots.inference import SlotTagger

    return SlotTagger.from_pretrained(folder, backend=backend, cache_dir=cache_dir)


def raw_outputs(model: Any, probes: Sequence[str]) -> list:
    return model.logits(probes, [[] for _ in probes])


def dev_metric(model: Any, cfg: Mapping[str, Any]) -> tuple[str, float | None]:
    """The tagger's own span F1 on the dev files ``duihua train slots`` writes."""
    from omegaconf import OmegaConf

    from models.lexicon.features import featurizer_from_config
    from models.slots.data import locate
    from models.slots.scoring import span_scores
    from pipeline.config import load_config
    from pipeline.evaluate.slots import read_records

    folder = Path(cfg["paths"]["root"]) / "outputs/slots/dev"
    if not all((folder / f"{n}.jsonl").is_file() for n in ("smp2019", "crosswoz")):
        return "slot F1 ×100, tagger alone (outputs/slots/dev not written)", None
    featurize, _ = featurizer_from_config(OmegaConf.to_container(load_config("train/slots", []), resolve=True))
    f1s = []
    for name in ("smp2019", "crosswoz"):
        records = read_records(folder / f"{name}.jsonl")
        texts = [r["text"] for r in records]
        pred = model.predict(texts, featurize(texts))
        f1s.append(span_scores([locate(r["text"], r["slots"]) for r in records],
                               [{(s.start, s.end) for s in p} for p in pred])["f1"])
    return "slot F1 ×100, tagger alone, SMP2019 / CrossWOZ (mean)", round(50 * sum(f1s), 2)


TASK = StageTask(
    "slots",
    {"slots": "models.slots.train:train_from_config"},
    evaluator="pipeline.evaluate.slots:evaluate",
    checkpoint_overrides=lambda d: ["slots=fused", f"slots.checkpoint={d}"],
    exporter=Exporter(load, raw_outputs, dev_metric),
)
