"""Character bigrams: the cheapest strong lexical feature for Chinese tagging tasks (a lookup, no FLOPs).

For character i the left bigram is c(i-1)c(i) and the right bigram c(i)c(i+1), with ``<s>``/``</s>`` at the
ends. The vocabulary holds the ``max_size`` most frequent training bigrams seen ``min_count`` times; it is
saved next to the checkpoint as one bigram per line. Used by the segmenter (does c(i)c(i+1) form a word?) and
the splitter (does 吗我 straddle two requests?).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

BOS, EOS = "<s>", "</s>"
PAD_ID, UNK_ID = 0, 1


def bigrams(chars: Sequence[str]) -> list[str]:
    """The n+1 bigrams of a sequence: ``<s>c1``, ``c1c2``, …, ``cn</s>``; left(i) = [i], right(i) = [i+1]."""
    padded = [BOS, *chars, EOS]
    return [a + b for a, b in zip(padded, padded[1:], strict=False)]


class BigramVocab:
    """Bigram string -> id (0 = padding, 1 = unknown), saved as one bigram per line."""

    FILE = "bigrams.txt"

    def __init__(self, items: Sequence[str]) -> None:
        self.items = list(items)
        self.index = {b: i + 2 for i, b in enumerate(self.items)}

    def __len__(self) -> int:
        return len(self.items) + 2

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_count: int, max_size: int) -> BigramVocab:
        counts: Counter[str] = Counter()
        for chars in sequences:
            counts.update(bigrams(chars))
        kept = [b for b, n in counts.items() if n >= min_count]
        kept.sort(key=lambda b: (-counts[b], b))  # deterministic: frequency, then code points
        return cls(kept[:max_size])

    def encode(self, chars: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.fromiter((self.index.get(b, UNK_ID) for b in bigrams(chars)), dtype=np.int32, count=len(chars) + 1)
        return ids[:-1], ids[1:]

    def save(self, folder: str | Path) -> None:
        Path(folder, self.FILE).write_text("".join(b + "\n" for b in self.items), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> BigramVocab:
        return cls(Path(folder, cls.FILE).read_text(encoding="utf-8").splitlines())


class BigramFusion:
    """Mixin for ``nn.Module`` taggers: left/right bigram embeddings fused with the encoder output.

    ``fused = LayerNorm(W [H; E(left); E(right)])``. The parts are attributes of the model itself
    (``bigram``, ``fuse``, ``fuse_norm``), so shipped checkpoints keep their state-dict keys.
    """

    def init_bigram_fusion(self, hidden: int, n_bigrams: int, dim: int) -> None:
        from torch import nn

        self.bigram = nn.Embedding(n_bigrams, dim, padding_idx=0)
        self.fuse = nn.Linear(hidden + 2 * dim, hidden)
        self.fuse_norm = nn.LayerNorm(hidden)

    def fuse_bigrams(self, hidden, left, right):  # noqa: ANN001, ANN201 - tensors
        import torch

        grams = torch.cat([self.bigram(left), self.bigram(right)], dim=-1)
        return self.fuse_norm(self.fuse(torch.cat([hidden, grams], dim=-1)))
