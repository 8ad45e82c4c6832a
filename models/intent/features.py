"""Model inputs for the intent classifier: character ids, per-character slot tags, labels, and batching.

``char_slots`` (from the gazetteer tagger) lists, per character, tag names such as ``B-singer``; the model's
``SlotTagVocab`` (``models.common.slot_tags``) turns them into (type, position) ids.

``fusion: tokens`` (the baseline of feeding slot labels as plain input) appends one ``[unusedN]`` token per
matched slot type after the text: ``[CLS] text [SEP] [unused3] [unused7] [SEP]``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from models.common.char_ids import CharIds
from models.common.slot_tags import NO_SLOT, PAD_TYPE, SlotTagVocab
from models.intent.data import IntentExample
from models.normalization import normalize

if TYPE_CHECKING:
    import torch

IGNORE = -100


def ngram_ids(chars: Sequence[str], buckets: int, orders: Sequence[int] = (2, 3)) -> list[int]:
    """Hashed character n-grams (CRC32 mod ``buckets``, shifted by 1: 0 pads), fastText style."""
    if not buckets:
        return []
    text = "".join(chars)
    grams = {text[i:i + n] for n in orders for i in range(len(text) - n + 1)}
    return sorted(zlib.crc32(g.encode("utf-8")) % buckets + 1 for g in grams) or [0]


def encode_text(text: str, char_slots: Sequence[Sequence[str]], char_ids: CharIds, vocab: SlotTagVocab,
                max_chars: int, fusion: str, unused_ids: Sequence[int] = (), ngram_buckets: int = 0
                ) -> dict[str, Any]:
    """One model input. ``char_slots`` shorter than the text (or empty: lexicons off) means "no slot"."""
    chars = list(normalize(text))[:max_chars]
    ids = char_ids.encode(chars).tolist()
    types, positions = vocab.encode_framed(list(char_slots)[: len(chars)], len(chars))   # [CLS], [SEP]: no slot
    blank = [[NO_SLOT] + [PAD_TYPE] * (vocab.max_tags - 1)], [[0] * vocab.max_tags]
    if fusion == "tokens":
        extra = [unused_ids[t] for t in vocab.matched_types(char_slots) if t < len(unused_ids)]
        if extra:
            ids += extra + [char_ids.sep]
            types += blank[0] * (len(extra) + 1)
            positions += blank[1] * (len(extra) + 1)
    item = {"input_ids": ids, "slot_types": types, "slot_positions": positions}
    if ngram_buckets:
        item["ngram_ids"] = ngram_ids(chars, ngram_buckets)
    return item


def encode_examples(examples: Sequence[IntentExample], char_slots: Sequence[Sequence[Sequence[str]]],
                    char_ids: CharIds, vocab: SlotTagVocab, domains: Mapping[str, int], intents: Mapping[str, int],
                    max_chars: int, fusion: str, unused_ids: Sequence[int] = (), shared_domains: bool = True,
                    ngram_buckets: int = 0) -> list[dict[str, Any]]:
    """Encoded training items with ``domain_labels``/``intent_labels`` (-100 where the dataset has none).
    Examples with an intent label train the domain head only with ``shared_domains``."""
    items = []
    for ex, slots in zip(examples, char_slots, strict=True):
        item = encode_text(ex.text, slots, char_ids, vocab, max_chars, fusion, unused_ids, ngram_buckets)
        item["domain_labels"] = domains.get(ex.domain, IGNORE) if ex.intent is None or shared_domains else IGNORE
        item["intent_labels"] = intents.get(ex.label, IGNORE) if ex.intent is not None else IGNORE
        items.append(item)
    return items


def collate_numpy(items: Sequence[Mapping[str, Any]], pad_id: int = 0) -> dict[str, np.ndarray]:
    """Padded int64 batch arrays (float32 distillation targets): what ONNX Runtime takes as is, and what
    ``collate`` hands torch, so inference never imports torch and both backends see the same numbers."""
    width = max(len(x["input_ids"]) for x in items)
    k = len(items[0]["slot_types"][0])
    batch = {
        "input_ids": np.full((len(items), width), pad_id, dtype=np.int64),
        "attention_mask": np.zeros((len(items), width), dtype=np.int64),
        "slot_types": np.zeros((len(items), width, k), dtype=np.int64),
        "slot_positions": np.zeros((len(items), width, k), dtype=np.int64),
    }
    for i, x in enumerate(items):
        n = len(x["input_ids"])
        batch["input_ids"][i, :n] = x["input_ids"]
        batch["attention_mask"][i, :n] = 1
        batch["slot_types"][i, :n] = x["slot_types"]
        batch["slot_positions"][i, :n] = x["slot_positions"]
    if "ngram_ids" in items[0]:
        grams = np.zeros((len(items), max(len(x["ngram_ids"]) for x in items)), dtype=np.int64)
        for i, x in enumerate(items):
            grams[i, :len(x["ngram_ids"])] = x["ngram_ids"]
        batch["ngram_ids"] = grams
    for key in ("domain_labels", "intent_labels"):
        if key in items[0]:
            batch[key] = np.asarray([x[key] for x in items], dtype=np.int64)
    for key in ("domain_soft", "intent_soft"):   # distillation targets (models/intent/distill.py)
        if key in items[0]:
            batch[key] = np.stack([x[key] for x in items]).astype(np.float32)
    return batch


def collate(items: Sequence[Mapping[str, Any]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """``collate_numpy`` as torch tensors, for training (the only caller that wants torch)."""
    import torch

    return {k: torch.from_numpy(v) for k, v in collate_numpy(items, pad_id).items()}
