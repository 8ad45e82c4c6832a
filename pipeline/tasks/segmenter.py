"""Word segmentation at two granularities (``[FINE]``/``[COARSE]``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.tasks import Exporter, StageTask


def load(folder: Path, backend: str, cache_dir: str) -> Any:
    from models.segmenter.inference import Segmenter

    return Segmenter.from_pretrained(folder, backend=backend, cache_dir=cache_dir, precision="fp32")


def raw_outputs(model: Any, probes: Sequence[str]) -> list:
    import torch

    from models.charmap import model_view
    from models.segmenter.features import collate
    batch = collate([model.encode(model_view(t)[0], "fine") for t in probes])
    with torch.inference_mode():
        return [model._logits(batch).float().numpy()]


def dev_metric(model: Any, cfg: Mapping[str, Any]) -> tuple[str, float | None]:
    """Fine word F1 on the PKU dev file ``duihua train segmenter`` writes."""
    from models.segmenter.scoring import score as segment_score
    from pipeline.evaluate.segmenter import read_gold

    path = Path(cfg["paths"]["root"]) / "outputs/segmenter/dev/pku_fine.txt"
    if not path.is_file():
        return "segmenter fine F1 (outputs/segmenter/dev/pku_fine.txt not written)", None
    gold = read_gold(path)
    texts = ["".join(words) for words in gold]
    pred = [[t[a:b] for a, b in spans] for t, spans in zip(texts, model.segment(texts, "fine"), strict=True)]
    return "segmenter fine F1", round(segment_score(gold, pred, None)["f1"], 2)


TASK = StageTask(
    "segmenter",
    {"segmenter": "models.segmenter.train:train"},
    evaluator="pipeline.evaluate.segmenter:evaluate",
    checkpoint_overrides=lambda d: ["segmenter=neural", f"segmenter.checkpoint={d}"],
    exporter=Exporter(load, raw_outputs, dev_metric),
    aliases=("segment",),
)
