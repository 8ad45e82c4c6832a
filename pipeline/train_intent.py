"""``duihua train intent``: wires the pipeline's gazetteer slot tagger into the intent trainer.

The trainer lives in ``models/intent`` and must not import ``pipeline/``; it takes the featurizer as an
argument. This adapter builds it from the training config's ``slots`` node (``pipeline.slot_features``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.intent.train import check_config
from models.intent.train import train as train_model
from pipeline.slot_features import featurizer_from_config


def train(cfg: Mapping[str, Any]) -> dict[str, Any]:
    check_config(cfg)  # before the gazetteer is built: config mistakes fail in a second
    featurize, pool = featurizer_from_config(cfg)
    return train_model(cfg, featurize, pool)
