"""Retrieval replies: BM25 over the stored queries of (query, response) pairs, answering the best match's response.

Terms are characters and character bigrams (Chinese has no spaces; bigrams carry most of a word's identity).
The index is a term -> (doc ids, term frequencies) inverted list in numpy, so a query costs one vector update
per distinct query term. Ties go to the earliest pair, so answers are deterministic.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def terms(text: str) -> list[str]:
    chars = [c for c in text if not c.isspace()]
    return chars + [a + b for a, b in zip(chars, chars[1:], strict=False)]


@dataclass
class Retrieved:
    response: str
    query: str
    score: float


class BM25Index:
    def __init__(self, queries: Sequence[str], responses: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        if len(queries) != len(responses):
            raise ValueError(f"{len(queries)} queries for {len(responses)} responses")
        if not queries:
            raise ValueError("cannot index an empty set of pairs")
        self.queries, self.responses = list(queries), list(responses)
        self.k1, self.b = k1, b
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(len(queries), dtype=np.float32)
        for doc, text in enumerate(self.queries):
            counts = Counter(terms(text))
            lengths[doc] = sum(counts.values())
            for term, tf in counts.items():
                postings[term].append((doc, tf))
        avg = float(lengths.mean()) or 1.0
        self.norm = (k1 * (1 - b + b * lengths / avg)).astype(np.float32)  # per-doc length normalisation
        n = len(queries)
        self.postings = {t: (np.array([d for d, _ in p], dtype=np.int64), np.array([f for _, f in p], np.float32),
                             math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)))
                         for t, p in postings.items()}

    def __len__(self) -> int:
        return len(self.queries)

    def _scores(self, text: str) -> np.ndarray | None:
        """BM25 of every stored query for ``text``; None when no term of ``text`` occurs in any of them."""
        scores = np.zeros(len(self.queries), dtype=np.float32)
        hit = False
        for term, qtf in Counter(terms(text)).items():
            entry = self.postings.get(term)
            if entry is None:
                continue
            docs, tfs, idf = entry
            scores[docs] += qtf * idf * tfs * (self.k1 + 1) / (tfs + self.norm[docs])
            hit = True
        return scores if hit else None

    def search(self, text: str) -> Retrieved | None:
        """The best-scoring pair, or None when no term of ``text`` occurs in any stored query."""
        scores = self._scores(text)
        if scores is None:
            return None
        best = int(np.argmax(scores))  # first maximum: the earliest pair wins ties
        return Retrieved(self.responses[best], self.queries[best], float(scores[best]))

    def search_k(self, text: str, k: int) -> list[Retrieved]:
        """The ``k`` best-scoring pairs with a score above 0, best first (ties: the earliest pair first), so
        the first is ``search``'s answer; empty when nothing matches."""
        scores = self._scores(text)
        if scores is None or k < 1:
            return []
        top = np.flatnonzero(scores > 0)
        if len(top) > k:   # every pair tied with the k-th best stays, so the earliest of a tie wins
            kth = -np.partition(-scores[top], k - 1)[k - 1]
            top = top[scores[top] >= kth]
        top = top[np.lexsort((top, -scores[top]))][:k]
        return [Retrieved(self.responses[i], self.queries[i], float(scores[i])) for i in top]
