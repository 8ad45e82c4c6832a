"""Model characters -> encoder vocabulary ids, for the character-level taggers (segmenter, splitter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class CharIds:
    """``[CLS] *prefix c1 … cn [SEP]`` as ids; a dict lookup, because the characters are already normalized."""

    def __init__(self, vocab: Mapping[str, int], unk_id: int, cls_id: int, sep_id: int) -> None:
        self.vocab, self.unk, self.cls, self.sep = dict(vocab), unk_id, cls_id, sep_id

    @classmethod
    def from_tokenizer(cls, tokenizer):  # noqa: ANN001, ANN206 - any HF tokenizer; returns cls
        return cls(tokenizer.get_vocab(), tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id)

    def encode(self, chars: Sequence[str], prefix: Sequence[int] = ()) -> np.ndarray:
        ids = [self.cls, *prefix, *(self.vocab.get(c, self.unk) for c in chars), self.sep]
        return np.asarray(ids, dtype=np.int32)
