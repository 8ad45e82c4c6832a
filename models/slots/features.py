"""Tagger inputs: character ids and gazetteer tags (the intent model's encoding), hashed char bigrams, and BIO
label ids."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from models.common.char_ids import CharIds
from models.intent.features import SlotTagVocab, encode_text
from models.normalization import normalize
from models.slots.data import Span

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


def collate(items: Sequence[Mapping[str, Any]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    width = max(len(x["input_ids"]) for x in items)
    k = len(items[0]["slot_types"][0])
    batch = {"input_ids": torch.full((len(items), width), pad_id, dtype=torch.long),
             "attention_mask": torch.zeros((len(items), width), dtype=torch.long),
             "slot_types": torch.zeros((len(items), width, k), dtype=torch.long),
             "slot_positions": torch.zeros((len(items), width, k), dtype=torch.long)}
    if "labels" in items[0]:
        batch["labels"] = torch.full((len(items), width), IGNORE, dtype=torch.long)
    if "bigram_ids" in items[0]:
        batch["bigram_ids"] = torch.zeros((len(items), width, 2), dtype=torch.long)
    for i, x in enumerate(items):
        n = len(x["input_ids"])
        batch["input_ids"][i, :n] = torch.tensor(x["input_ids"])
        batch["attention_mask"][i, :n] = 1
        batch["slot_types"][i, :n] = torch.tensor(x["slot_types"])
        batch["slot_positions"][i, :n] = torch.tensor(x["slot_positions"])
        if "labels" in x:
            batch["labels"][i, :n] = torch.tensor(x["labels"])
        if "bigram_ids" in x:
            batch["bigram_ids"][i, :n] = torch.tensor(x["bigram_ids"])
    for key in ("domain_labels", "intent_labels"):
        if key in items[0]:
            batch[key] = torch.tensor([x[key] for x in items], dtype=torch.long)
    return batch
