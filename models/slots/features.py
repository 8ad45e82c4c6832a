"""Tagger inputs: character ids and gazetteer tags (the intent model's encoding), hashed char bigrams, and BIO
label ids."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from models.common.char_ids import CharIds
from models.common.slot_tags import SlotTagVocab
from models.intent.features import collate_numpy as collate_intent_numpy
from models.intent.features import encode_text
from models.normalization import normalize
from models.slots.data import Span

if TYPE_CHECKING:  # collate gives training tensors; inference pads with collate_numpy and never loads torch
    import torch

IGNORE = -100


def bigram_ids(chars: Sequence[str], buckets: int) -> list[list[int]]:
    """Per position of ``[CLS] chars [SEP]``: the left (c_{i-1} c_i) and right (c_i c_{i+1}) bigram, hashed
    (CRC32 mod ``buckets``, shifted by 1: 0 pads; the text's edges are ``^`` and ``$``)."""
    padded = ["^", *chars, "$"]

    def h(a: str, b: str) -> int:
        return zlib.crc32(f"{a}{b}".encode()) % buckets + 1

    rows = [[h(padded[i - 1], padded[i]), h(padded[i], padded[i + 1])] for i in range(1, len(padded) - 1)]
    return [[0, 0], *rows, [0, 0]]


def encode(text: str, char_slots: Sequence[Sequence[str]], char_ids: CharIds, vocab: SlotTagVocab, max_chars: int,
           tag_index: Mapping[str, int] | None = None, spans: Sequence[Span] = (), bigram_buckets: int = 0,
           tagged: bool = True) -> dict[str, Any]:
    """One input; with ``tag_index`` also ``labels`` (one per position, ``IGNORE`` on [CLS]/[SEP], and
    everywhere when the text is not ``tagged``)."""
    item = encode_text(text, char_slots, char_ids, vocab, max_chars, "gated")
    if bigram_buckets:
        item["bigram_ids"] = bigram_ids(list(normalize(text))[:max_chars], bigram_buckets)
    if tag_index is not None:
        n = len(item["input_ids"]) - 2
        labels = [tag_index["O"]] * n
        for start, end, name in spans:
            if end <= n and f"B-{name}" in tag_index:
                labels[start] = tag_index[f"B-{name}"]
                for i in range(start + 1, end):
                    labels[i] = tag_index[f"I-{name}"]
        item["labels"] = [IGNORE, *(labels if tagged else [IGNORE] * n), IGNORE]
    return item


def collate_numpy(items: Sequence[Mapping[str, Any]], pad_id: int = 0) -> dict[str, np.ndarray]:
    """The intent model's batch (ids, mask, gazetteer tags, joint-model labels) plus BIO labels and bigrams,
    as int64 numpy arrays: inference on ONNX Runtime pads with this and never imports torch."""
    batch = collate_intent_numpy(items, pad_id)
    width = batch["input_ids"].shape[1]
    for key, shape in (("labels", ()), ("bigram_ids", (2,))):
        if key in items[0]:
            batch[key] = np.full((len(items), width, *shape), IGNORE if key == "labels" else 0, dtype=np.int64)
            for i, x in enumerate(items):
                batch[key][i, :len(x[key])] = x[key]
    return batch


def collate(items: Sequence[Mapping[str, Any]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """``collate_numpy`` as torch tensors (same dtypes and values): training, ``backend=torch``, ``classify``."""
    import torch

    return {k: torch.from_numpy(v) for k, v in collate_numpy(items, pad_id).items()}
