"""The intent checkpoint's light half: file names, the head config and reading a checkpoint's config.

Why a module of its own: ``models.intent.modeling`` imports transformers (seconds at start-up) to build the
BERT encoder, but ONNX inference on a warm cache needs only the head config (labels, temperatures, slot
types) and the encoder's position limit, which are plain JSON. ``modeling`` re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.common.persistence import SavableModel

CONFIG_FILE = "intent.json"
MODEL_TYPE = "duihua-intent"
TRAIN_COMMAND = "duihua train intent"
FUSIONS = ("gated", "none", "tokens")
POOLS = ("mean", "max")


@dataclass
class HeadConfig:
    domains: list[str] = field(default_factory=list)   # domain head labels
    intents: list[str] = field(default_factory=list)   # intent head labels, "domain/intent"
    slot_types: list[str] = field(default_factory=list)   # the gazetteer types its training texts were tagged with
    lexicon_types: list[str] | None = None   # every slot type of its training lexicons (None: not recorded)
    max_tags: int = 3            # slot tags kept per character
    fusion: str = "gated"        # gated | none | tokens
    tag_pool: str = "mean"       # how the tags of one character combine: mean | max
    slot_dim: int = 64           # d_s
    attn_dim: int = 128          # the shared space of W_h H and W_s S
    attn_heads: int = 4
    context_heads: int = 4       # the self-attention layer over the fused sequence
    dropout: float = 0.1
    ngram_buckets: int = 0       # >0: a hashed character 2/3-gram bag (fastText style) joins the pooled features
    ngram_dim: int = 64
    intent_weight: float = 1.0   # loss weight of the intent head against the domain head
    label_smoothing: float = 0.0
    soft_weight: float = 0.0     # distillation (intent-distill): weight of the teachers' soft labels vs hard ones
    domain_temperature: float = 1.0   # calibration (fitted on dev after training; 1.0 = uncalibrated)
    intent_temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"model.head.fusion: expected one of {FUSIONS}, got {self.fusion!r}")
        if self.tag_pool not in POOLS:
            raise ValueError(f"model.head.tag_pool: expected one of {POOLS}, got {self.tag_pool!r}")


class IntentCheckpoint(SavableModel):
    """The checkpoint's names without the model: ``check_folder`` and ``read_config`` work on it exactly as
    on ``SlotAwareIntentModel`` (same file, same type check, same error), without importing transformers."""

    CONFIG_FILE = CONFIG_FILE
    MODEL_TYPE = MODEL_TYPE
    HEAD_CONFIG = HeadConfig
    TRAIN_COMMAND = TRAIN_COMMAND


def read_head_config(folder: str | Path) -> tuple[dict[str, Any], HeadConfig]:
    """``(encoder config dict, HeadConfig)`` of a checkpoint folder, read from its JSON alone."""
    config = IntentCheckpoint.read_config(folder)
    return config["encoder"], HeadConfig(**config["head"])
