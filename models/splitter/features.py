"""Model inputs for the splitter: ``[CLS] c1 … cn [SEP]`` and one boundary label per character.

The model sees what ASR produces: no punctuation and no spaces. Characters come from ``models.charmap``
(width-normalised; digit and Latin runs folded to one symbol, so ``26度`` and ``qq`` are single inputs),
with punctuation dropped; each keeps its span in the original text, so boundaries map back exactly.

Optional bigram ids (``models.common.bigrams``) give the classifier the lexical cues of a gap directly
(吗我, 样帮: an ending particle before a request verb).

With a slot-fused model (``fusion: input``), ``view_tags`` carries the gazetteer's character tags of the raw
text over to the model characters (a folded run takes its first character's tags), and ``slot_types`` /
``slot_positions`` hold them as ids (``models.common.slot_tags``), one row of ``max_tags`` per position.

Label of character i: 1 if a sentence ends after it, 0 if not; the last character is not labelled (the end of
the input always ends a sentence). Distillation adds ``soft_labels``: the teachers' mean probability per
character, in the same layout.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from models.charmap import model_view
from models.common.bigrams import BigramVocab
from models.common.char_ids import CharIds
from models.common.slot_tags import SlotTagVocab
from models.splitter.scoring import gold_boundaries

if TYPE_CHECKING:  # only training and the torch backend want tensors; the ONNX path pads in numpy
    import torch

IGNORE = -100.0
__all__ = ["IGNORE", "CharIds", "boundary_labels", "collate", "collate_numpy", "encode_example", "is_punct",
           "splitter_view", "view_tags"]
TAG_KEYS = ("slot_types", "slot_positions")


def is_punct(piece: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in piece)


def splitter_view(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Folded characters of ``text`` without punctuation and whitespace, with their spans in ``text``."""
    chars, spans = model_view(text)
    keep = [i for i, c in enumerate(chars) if not is_punct(c)]
    return [chars[i] for i in keep], [spans[i] for i in keep]


def view_tags(text_tags: Sequence[Sequence[str]], spans: Sequence[tuple[int, int]]) -> list[list[str]]:
    """The raw text's per-character tags for each model character (its span's first character)."""
    return [list(text_tags[a]) for a, _ in spans]


def boundary_labels(sentences: Sequence[str]) -> tuple[list[str], list[float]]:
    """Model characters of the joined (already unpunctuated) sentences and their 0/1 labels."""
    ends = gold_boundaries(sentences)
    chars, spans = splitter_view("".join(sentences))
    labels = [1.0 if end in ends else 0.0 for _, end in spans]
    if labels:
        labels[-1] = IGNORE
    return chars, labels


def encode_example(chars: Sequence[str], char_ids: CharIds, labels: Sequence[float] | None = None,
                   soft_labels: Sequence[float] | None = None, bigram_vocab: BigramVocab | None = None,
                   tag_vocab: SlotTagVocab | None = None, tags: Sequence[Sequence[str]] = ()
                   ) -> dict[str, np.ndarray]:
    """One model input; ``tags`` (per model character, may be empty: no lexicon) only with ``tag_vocab``."""
    ex = {"input_ids": char_ids.encode(chars)}
    if tag_vocab is not None:
        types, positions = tag_vocab.encode_framed(tags, len(chars))
        ex["slot_types"], ex["slot_positions"] = np.asarray(types, np.int64), np.asarray(positions, np.int64)
    if bigram_vocab is not None:  # padded at [CLS] and [SEP] so they align with input_ids
        pad = np.zeros(1, dtype=np.int32)
        left, right = bigram_vocab.encode(chars)
        ex["bigram_left"], ex["bigram_right"] = np.concatenate([pad, left, pad]), np.concatenate([pad, right, pad])
    for key, values in (("labels", labels), ("soft_labels", soft_labels)):
        if values is not None:
            ex[key] = np.asarray([IGNORE, *values, IGNORE], dtype=np.float32)
    return ex


def collate_numpy(batch: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Pad to the longest example: ids (int64) with [PAD] = 0, labels (float32) with ``IGNORE``; the ONNX
    backends feed this as it is, so they never import torch."""
    width = max(len(ex["input_ids"]) for ex in batch)
    n = len(batch)
    id_keys = ["input_ids", *(k for k in ("bigram_left", "bigram_right") if k in batch[0])]
    label_keys = [k for k in ("labels", "soft_labels") if k in batch[0]]
    out = {k: np.zeros((n, width), dtype=np.int64) for k in ("input_ids", "attention_mask", *id_keys[1:])}
    tag_keys = [k for k in TAG_KEYS if k in batch[0]]
    out.update({k: np.zeros((n, width, batch[0][k].shape[1]), dtype=np.int64) for k in tag_keys})
    out.update({k: np.full((n, width), IGNORE, dtype=np.float32) for k in label_keys})
    for i, ex in enumerate(batch):
        m = len(ex["input_ids"])
        for k in (*id_keys, *tag_keys):
            out[k][i, :m] = ex[k]
        out["attention_mask"][i, :m] = 1
        for k in label_keys:
            out[k][i, :m] = ex[k]
    return out


def collate(batch: Sequence[Mapping[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """``collate_numpy`` as torch tensors (same dtypes: long ids, float32 labels), for training and the
    torch backend."""
    import torch

    return {k: torch.from_numpy(v) for k, v in collate_numpy(batch).items()}
