"""Model inputs for segmentation: character ids, character-bigram ids and B/M/E/S tags.

Input layout: ``[CLS] [FINE|COARSE] c1 … cn [SEP]``. Bigram features sit on the character positions only:
for character i the left bigram is c(i-1)c(i) and the right bigram c(i)c(i+1), with ``<s>``/``</s>`` at the
ends. Bigrams are the classic strongest feature for Chinese segmentation (they see whether two characters
form a word); the vocabulary holds the ``max_size`` most frequent training bigrams seen ``min_count`` times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from models.common.bigrams import BOS, EOS, PAD_ID, UNK_ID, BigramVocab, bigrams
from models.common.char_ids import CharIds as BaseCharIds

TAGS = ("B", "M", "E", "S")
B, M, E, S = range(4)
GRANULARITY_IDS = {"fine": 0, "coarse": 1}
GRANULARITY_TOKENS = {"fine": "[FINE]", "coarse": "[COARSE]"}
IGNORE = -100
__all__ = ["BOS", "EOS", "PAD_ID", "UNK_ID", "BigramVocab", "CharIds", "bigrams", "bmes_tags", "collate",
           "encode_example", "tags_to_spans"]


def bmes_tags(words: Sequence[Sequence[str]]) -> list[int]:
    """Tags for folded words (each a list of model characters); empty words are skipped."""
    tags: list[int] = []
    for w in words:
        n = len(w)
        if n == 1:
            tags.append(S)
        elif n > 1:
            tags += [B] + [M] * (n - 2) + [E]
    return tags


def tags_to_spans(tags: Sequence[int]) -> list[tuple[int, int]]:
    """Word spans (in characters) from a tag sequence; a word ends after every E or S."""
    spans, start = [], 0
    for i, t in enumerate(tags):
        if t in (E, S):
            spans.append((start, i + 1))
            start = i + 1
    if start < len(tags):
        spans.append((start, len(tags)))
    return spans


class CharIds(BaseCharIds):
    """Character ids with the granularity token (``[FINE]``/``[COARSE]``) after ``[CLS]``."""

    def __init__(self, vocab: Mapping[str, int], unk_id: int, cls_id: int, sep_id: int) -> None:
        super().__init__(vocab, unk_id, cls_id, sep_id)
        self.granularity = {g: vocab[tok] for g, tok in GRANULARITY_TOKENS.items()}

    def encode(self, chars: Sequence[str], granularity: str) -> np.ndarray:  # type: ignore[override]
        return super().encode(chars, (self.granularity[granularity],))


def encode_example(chars: Sequence[str], granularity: str, char_ids: CharIds, vocab: BigramVocab,
                   tags: Sequence[int] | None = None) -> dict[str, np.ndarray | int]:
    """One example; bigram and tag arrays are padded at [CLS], [G] and [SEP] so they align with input_ids."""
    left, right = vocab.encode(chars)
    pad2, pad1 = np.zeros(2, dtype=np.int32), np.zeros(1, dtype=np.int32)
    ex: dict[str, np.ndarray | int] = {
        "input_ids": char_ids.encode(chars, granularity),
        "bigram_left": np.concatenate([pad2, left, pad1]),
        "bigram_right": np.concatenate([pad2, right, pad1]),
        "granularity": GRANULARITY_IDS[granularity],
    }
    if tags is not None:
        ex["labels"] = np.asarray([IGNORE, IGNORE, *tags, IGNORE], dtype=np.int64)
    return ex


def collate(batch: Sequence[Mapping[str, np.ndarray | int]]) -> dict[str, torch.Tensor]:
    """Pad to the longest example; [PAD] = 0 for ids and bigrams, -100 for labels."""
    width = max(len(ex["input_ids"]) for ex in batch)
    n = len(batch)
    out = {
        "input_ids": torch.zeros((n, width), dtype=torch.long),
        "attention_mask": torch.zeros((n, width), dtype=torch.long),
        "bigram_left": torch.zeros((n, width), dtype=torch.long),
        "bigram_right": torch.zeros((n, width), dtype=torch.long),
        "granularity": torch.tensor([int(ex["granularity"]) for ex in batch], dtype=torch.long),
    }
    has_labels = "labels" in batch[0]
    if has_labels:
        out["labels"] = torch.full((n, width), IGNORE, dtype=torch.long)
    for i, ex in enumerate(batch):
        k = len(ex["input_ids"])
        out["input_ids"][i, :k] = torch.from_numpy(np.asarray(ex["input_ids"], dtype=np.int64))
        out["attention_mask"][i, :k] = 1
        out["bigram_left"][i, :k] = torch.from_numpy(np.asarray(ex["bigram_left"], dtype=np.int64))
        out["bigram_right"][i, :k] = torch.from_numpy(np.asarray(ex["bigram_right"], dtype=np.int64))
        if has_labels:
            out["labels"][i, :k] = torch.from_numpy(np.asarray(ex["labels"], dtype=np.int64))
    return out
