"""The segmenter's checkpoint format without the network: file name, model type and head config.

Why a module of its own: ``modeling`` imports transformers (seconds at start-up), and the ONNX runtime needs
only these pieces to read a checkpoint whose graph is already cached. ``modeling`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from models.common.persistence import SavableModel

CONFIG_FILE = "segmenter.json"  # not config.json: AutoTokenizer would read it as an HF model config


@dataclass
class HeadConfig:
    n_bigrams: int
    bigram_dim: int = 64       # 0: no bigram features
    mha_heads: int = 4         # 0: no extra self-attention layer
    mlp_dim: int = 256
    dropout: float = 0.1
    aux_weight: float = 0.1    # 0: no auxiliary granularity task
    n_tags: int = 4
    wordhood_sources: list[str] = field(default_factory=list)  # word lists in bit order; []: no wordhood features

    @property
    def reads_wordhood(self) -> bool:
        return bool(self.wordhood_sources)


class SegmenterCheckpoint(SavableModel):
    """The class attributes ``SavableModel``'s classmethods read (``check_folder``, ``read_config``), so a
    checkpoint is found and checked without building (or importing) the model; ``SegmenterModel`` inherits
    them."""

    CONFIG_FILE: ClassVar[str] = CONFIG_FILE
    MODEL_TYPE: ClassVar[str] = "duihua-segmenter"
    HEAD_CONFIG: ClassVar[type] = HeadConfig
    TRAIN_COMMAND: ClassVar[str] = "duihua train segmenter"
