"""The slot tagger's checkpoint format without the network: file name, model type, head config, BIO rules.

Why a module of its own: ``modeling`` imports transformers (seconds at start-up), and the ONNX runtime needs
only these pieces (plus the CRF transitions, read from the weights file) to run a checkpoint whose graph is
already cached. ``modeling`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from models.common.persistence import SavableModel

CONFIG_FILE = "slots.json"
FUSIONS = ("gated", "none")


@dataclass
class SlotHeadConfig:
    labels: list[str] = field(default_factory=list)       # slot types the tagger predicts (the datasets')
    slot_types: list[str] = field(default_factory=list)   # gazetteer slot types it reads as features
    lexicon_types: list[str] | None = None   # every slot type of its training lexicons (None: not recorded)
    max_tags: int = 3            # gazetteer tags kept per character
    fusion: str = "gated"        # gated | none (text only)
    tag_pool: str = "mean"       # how the tags of one character combine: mean | max
    slot_dim: int = 64
    attn_dim: int = 128
    attn_heads: int = 4
    dropout: float = 0.1
    bigram_buckets: int = 0      # >0: hashed left/right char-bigram embeddings join the encoder states
    bigram_dim: int = 64
    crf: bool = False            # a linear-chain CRF over the tag logits (loss and decoding)
    domains: list[str] = field(default_factory=list)   # joint model: domain head labels (empty: no head)
    intents: list[str] = field(default_factory=list)   # joint model: ``domain/intent`` head labels

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"model.head.fusion: expected one of {FUSIONS}, got {self.fusion!r}")

    @property
    def tags(self) -> list[str]:
        """The output space: ``O``, then ``B-x``, ``I-x`` for each label."""
        return ["O", *(f"{bi}-{x}" for x in self.labels for bi in ("B", "I"))]


class SlotCheckpoint(SavableModel):
    """The class attributes ``SavableModel``'s classmethods read (``check_folder``, ``read_config``), so a
    checkpoint is found and checked without building (or importing) the model; ``SlotTaggerModel`` inherits
    them."""

    CONFIG_FILE: ClassVar[str] = CONFIG_FILE
    MODEL_TYPE: ClassVar[str] = "duihua-slots"
    HEAD_CONFIG: ClassVar[type] = SlotHeadConfig
    TRAIN_COMMAND: ClassVar[str] = "duihua train slots"


def illegal_transitions(tags: list[str]) -> list[list[bool]]:
    """``[i][j]``: tag j may not follow tag i (row ``len(tags)`` is the sentence start)."""
    n = len(tags)
    out = [[False] * n for _ in range(n + 1)]
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            for i in range(n + 1):
                out[i][j] = not (i < n and tags[i] in (f"B-{tag[2:]}", tag))
    return out
