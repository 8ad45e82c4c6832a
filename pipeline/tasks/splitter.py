"""Sentence splitting: the boundary tagger (trained alone or distilled) and the joint decoder's request scorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.tasks import Exporter, StageTask


def load(folder: Path, backend: str, cache_dir: str) -> Any:
    from models.splitter.inference import Splitter

    return Splitter.from_pretrained(folder, backend=backend, cache_dir=cache_dir, precision="fp32")


def raw_outputs(model: Any, probes: Sequence[str]) -> list:
    import numpy as np

    from models.splitter.features import splitter_view
    return [np.asarray(p) for p in model.probabilities([splitter_view(t)[0] for t in probes])]


def dev_metric(model: Any, cfg: Mapping[str, Any]) -> tuple[str, float | None]:
    """Boundary F1 on the dev joins ``duihua train splitter-distill`` writes."""
    from models.splitter.scoring import gold_boundaries
    from models.splitter.scoring import score as split_score
    from pipeline.evaluate.splitter import read_records

    path = Path(cfg["paths"]["root"]) / "outputs/splitter/dev/requests.jsonl"
    if not path.is_file():
        return "splitter boundary F1 ×100 (outputs/splitter/dev/requests.jsonl not written)", None
    if model.reads_tags and model.featurize is None:   # a slot-fused tagger, fed its training lexicons
        from omegaconf import OmegaConf

        from models.lexicon.features import featurizer_from_config
        from pipeline.config import load_config

        model.featurize = featurizer_from_config(OmegaConf.to_container(load_config("train/splitter", []),
                                                                        resolve=True))[0]
    records = read_records(path)
    texts = ["".join(r) for r in records]
    pred = [{end for _, end in spans if end < len(t)} for t, spans in zip(texts, model.split(texts), strict=True)]
    return "splitter boundary F1 ×100", round(100 * split_score([gold_boundaries(r) for r in records],
                                                                pred)["f1"], 2)


TASK = StageTask(
    "splitter",
    {"splitter": "models.splitter.train:train",
     "splitter-distill": "models.splitter.distill:distill",
     "request-scorer": "models.splitter.scorer_train:train"},
    evaluator="pipeline.evaluate.splitter:evaluate",
    # the boundary tagger of the configured model splitter (neural, or joint with its scorer)
    checkpoint_overrides=lambda d: [f"splitter.checkpoint={d}"],
    exporter=Exporter(load, raw_outputs, dev_metric),
    aliases=("split",),
)
