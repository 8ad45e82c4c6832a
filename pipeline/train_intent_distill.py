"""``duihua train intent-distill``: the intent distillation (``models/intent/distill.py``) with the pipeline's
own gazetteer featurizer, wired as ``pipeline/train_intent.py`` wires ``duihua train intent``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.common.distill import check_teachers
from models.intent.distill import distill
from models.intent.train import check_config
from pipeline.slot_features import featurizer_from_config


def train(cfg: Mapping[str, Any]) -> dict[str, Any]:
    check_teachers(cfg["distill"])   # config mistakes fail in a second, before the gazetteer is built
    check_config(cfg)
    featurize, pool = featurizer_from_config(cfg)
    return distill(cfg, featurize, pool)
