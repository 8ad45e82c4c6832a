"""What a response-selection checkpoint is, without the network: file names, type tag and head config.

Why a module of its own: ``selection.py`` imports torch and transformers (seconds at start-up), but the rank
stage checks its checkpoint when the pipeline is built and loads the model only for the first chat sentence
(as the generator does), so it reads the checkpoint's JSON through this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from models.common.persistence import WEIGHTS_FILE, SavableModel

if TYPE_CHECKING:
    from models.reply.features import ReplyTokenizer

CONFIG_FILE = "reply_ranker.json"
TRAIN_COMMAND = "duihua train reply-ranker"
__all__ = ["CONFIG_FILE", "TRAIN_COMMAND", "WEIGHTS_FILE", "SelectionCheckpoint", "SelectionEncoder",
           "SelectionHeadConfig"]


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


class SelectionEncoder:
    """Text -> ``[CLS] chars [SEP]`` ids for either side, cut as the head config says."""

    def __init__(self, tokenizer: ReplyTokenizer, head: SelectionHeadConfig) -> None:
        self.tokenizer, self.head = tokenizer, head

    def query(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][-self.head.max_query_chars:]
        return [self.tokenizer.cls_token_id, *ids, self.tokenizer.sep_token_id]

    def response(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"][: self.head.max_response_chars]
        return [self.tokenizer.cls_token_id, *ids, self.tokenizer.sep_token_id]
