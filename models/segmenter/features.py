"""Model inputs for segmentation: character ids, character-bigram ids and B/M/E/S tags.

Input layout: ``[CLS] [FINE|COARSE] c1 … cn [SEP]``. Bigram features sit on the character positions only:
for character i the left bigram is c(i-1)c(i) and the right bigram c(i)c(i+1), with ``<s>``/``</s>`` at the
ends. Bigrams are the classic strongest feature for Chinese segmentation (they see whether two characters
form a word); the vocabulary holds the ``max_size`` most frequent training bigrams seen ``min_count`` times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from models.common.bigrams import BOS, EOS, PAD_ID, UNK_ID, BigramVocab, bigrams
from models.common.char_ids import CharIds as BaseCharIds
from models.segmenter.wordhood import unpack

if TYPE_CHECKING:  # collate returns tensors for training; inference uses collate_numpy and never loads torch
    import torch

TAGS = ("B", "M", "E", "S")
B, M, E, S = range(4)
GRANULARITY_IDS = {"fine": 0, "coarse": 1}
GRANULARITY_TOKENS = {"fine": "[FINE]", "coarse": "[COARSE]"}
IGNORE = -100
WORDHOOD_FEATURES = 64   # every bit of a character's int64 (``wordhood.Wordhood.bits``); unused bits stay 0
__all__ = ["BOS", "EOS", "PAD_ID", "UNK_ID", "BigramVocab", "CharIds", "bigrams", "bmes_tags", "collate",
           "collate_numpy", "encode_example", "tags_to_spans"]


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
                   tags: Sequence[int] | None = None, wordhood: np.ndarray | None = None
                   ) -> dict[str, np.ndarray | int]:
    """One example; bigram, wordhood and tag arrays are padded at [CLS], [G] and [SEP] so they align with
    input_ids. ``wordhood``: the characters' feature bits (``Wordhood.bits``), for a checkpoint that reads them."""
    left, right = vocab.encode(chars)
    pad2, pad1 = np.zeros(2, dtype=np.int32), np.zeros(1, dtype=np.int32)
    ex: dict[str, np.ndarray | int] = {
        "input_ids": char_ids.encode(chars, granularity),
        "bigram_left": np.concatenate([pad2, left, pad1]),
        "bigram_right": np.concatenate([pad2, right, pad1]),
        "granularity": GRANULARITY_IDS[granularity],
    }
    if wordhood is not None:
        ex["wordhood"] = np.concatenate([pad2.astype(np.int64), wordhood, pad1.astype(np.int64)])
    if tags is not None:
        ex["labels"] = np.asarray([IGNORE, IGNORE, *tags, IGNORE], dtype=np.int64)
    return ex


def collate_numpy(batch: Sequence[Mapping[str, np.ndarray | int]]) -> dict[str, np.ndarray]:
    """Pad to the longest example, as int64 numpy arrays; [PAD] = 0 for ids and bigrams, -100 for labels;
    wordhood bits unpacked to ``lexicon`` floats ``(n, width, WORDHOOD_FEATURES)``. Numpy so that inference on
    ONNX Runtime never imports torch."""
    width = max(len(ex["input_ids"]) for ex in batch)
    n = len(batch)
    keys = ("input_ids", "bigram_left", "bigram_right") + (("wordhood",) if "wordhood" in batch[0] else ())
    out = {k: np.zeros((n, width), dtype=np.int64) for k in (*keys, "attention_mask")}
    out["granularity"] = np.array([int(ex["granularity"]) for ex in batch], dtype=np.int64)
    has_labels = "labels" in batch[0]
    if has_labels:
        out["labels"] = np.full((n, width), IGNORE, dtype=np.int64)
    for i, ex in enumerate(batch):
        k = len(ex["input_ids"])
        for key in keys + (("labels",) if has_labels else ()):
            out[key][i, :k] = ex[key]
        out["attention_mask"][i, :k] = 1
    if "wordhood" in out:
        out["lexicon"] = unpack(out.pop("wordhood"), WORDHOOD_FEATURES)
    return out


def collate(batch: Sequence[Mapping[str, np.ndarray | int]]) -> dict[str, torch.Tensor]:
    """``collate_numpy`` as torch tensors (int64), for training and the torch model."""
    import torch

    return {k: torch.from_numpy(v) for k, v in collate_numpy(batch).items()}
