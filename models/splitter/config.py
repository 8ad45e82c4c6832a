"""What a splitter or request-scorer checkpoint is, without the model: file names, type tags, head configs.

Why a module of its own: ``modeling.py`` and ``scorer_model.py`` import transformers (seconds at start-up),
and the ONNX path never builds the torch model once its graph is cached, so it reads the checkpoint's JSON
through these classes instead. The model classes inherit them, so both paths check a folder the same way and
name the same train command in their errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.common.persistence import WEIGHTS_FILE, SavableModel

CONFIG_FILE = "splitter.json"
SCORER_CONFIG_FILE = "request_scorer.json"
__all__ = ["CONFIG_FILE", "SCORER_CONFIG_FILE", "WEIGHTS_FILE", "HeadConfig", "RequestScorerCheckpoint",
           "ScorerHeadConfig", "SplitterCheckpoint", "checkpoint_files", "max_chars_of"]


@dataclass
class HeadConfig:
    n_bigrams: int = 0         # bigram vocabulary size (set from the data)
    bigram_dim: int = 0        # 0: no bigram features
    mlp_dim: int = 256
    dropout: float = 0.1
    soft_weight: float = 0.5   # distillation: weight of the teachers' soft labels against the hard labels
    fusion: str = "none"       # input: the gazetteer's character tags embedded and added to the characters'
    slot_types: list[str] = field(default_factory=list)   # the fused tag types (set from the data)
    max_tags: int = 3          # slot tags kept per character
    tag_pool: str = "mean"     # mean | max over the tags of one character

    @property
    def fused(self) -> bool:
        return self.fusion != "none"


@dataclass
class ScorerHeadConfig:
    mlp_dim: int = 256
    dropout: float = 0.1


class SplitterCheckpoint(SavableModel):
    """The boundary tagger's checkpoint format (``SplitterModel`` adds the network)."""

    CONFIG_FILE = CONFIG_FILE
    MODEL_TYPE = "duihua-splitter"
    HEAD_CONFIG = HeadConfig
    TRAIN_COMMAND = "duihua train splitter-distill"


class RequestScorerCheckpoint(SavableModel):
    """The request scorer's checkpoint format (``RequestScorerModel`` adds the network)."""

    CONFIG_FILE = SCORER_CONFIG_FILE
    MODEL_TYPE = "duihua-request-scorer"
    HEAD_CONFIG = ScorerHeadConfig
    TRAIN_COMMAND = "duihua train request-scorer"


def max_chars_of(config: dict[str, Any]) -> int:
    """Characters one forward pass takes: the encoder's positions less [CLS] and [SEP]."""
    return int(config["encoder"].get("max_position_embeddings", 512)) - 2  # 512: BertConfig's default


def checkpoint_files(folder: Path, config_file: str) -> list[Path]:
    """The files an ONNX export is keyed by (``models.common.onnx.checkpoint_key``): config and weights."""
    return [folder / config_file, folder / WEIGHTS_FILE]
