"""What a response-selection checkpoint is, without the network: file names, type tag and head config.

Why a module of its own: ``selection.py`` imports torch and transformers (seconds at start-up), but the rank
stage checks its checkpoint when the pipeline is built and loads the model only for the first chat sentence
(as the generator does), so it reads the checkpoint's JSON through this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.common.persistence import WEIGHTS_FILE, SavableModel

CONFIG_FILE = "reply_ranker.json"
TRAIN_COMMAND = "duihua train reply-ranker"
__all__ = ["CONFIG_FILE", "TRAIN_COMMAND", "WEIGHTS_FILE", "SelectionCheckpoint", "SelectionHeadConfig"]


@dataclass
class SelectionHeadConfig:
    temperature: float = 0.05      # logits = cosine / temperature in the in-batch contrastive loss
    max_query_chars: int = 48      # the query's last characters are kept (its latest words matter most)
    max_response_chars: int = 32   # a response's first characters are kept (dev replies are short)


class SelectionCheckpoint(SavableModel):
    """The response-selection model's checkpoint format (``SelectionModel`` adds the network)."""

    CONFIG_FILE = CONFIG_FILE
    MODEL_TYPE = "duihua-reply-ranker"
    HEAD_CONFIG = SelectionHeadConfig
    TRAIN_COMMAND = TRAIN_COMMAND
