"""Dictionary-based word segmentation at two granularities (the jieba baseline).

coarse = jieba's default (precise-mode) cut. fine = a deterministic refinement of each coarse token into
dictionary sub-words: a token is split only when it can be covered entirely by dictionary words of two or more
characters (移动互联网 -> 移动/互联网, 中华人民共和国 -> 中华/人民/共和国). Names and function-word compounds
(周杰伦, 怎么样) have no such cover and stay whole. Among covers, fewest pieces wins, then the highest product
of jieba word frequencies, so the result never depends on iteration order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import ClassVar

import jieba

from pipeline.errors import ConfigError
from pipeline.schema import GRANULARITIES, Granularity, PipelineResult, Token
from pipeline.text import normalize

jieba.setLogLevel(logging.WARNING)


def check_granularities(granularities: Sequence[str]) -> tuple[Granularity, ...]:
    """``segmenter.granularities`` validated for every segmenter stage: a non-empty subset of coarse/fine."""
    bad = [g for g in granularities if g not in GRANULARITIES]
    if bad or not granularities:
        raise ConfigError(f"segmenter.granularities: expected a subset of {list(GRANULARITIES)}, got {bad}")
    return tuple(granularities)  # type: ignore[return-value]


class JiebaSegmenter:
    reads: ClassVar[frozenset[str]] = frozenset({"sentences"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences.tokens"})

    def __init__(self, granularities: Sequence[str] = GRANULARITIES, hmm: bool = True,
                 fine_min_len: int = 3, user_dict: str | None = None) -> None:
        self.granularities = check_granularities(granularities)
        self.hmm = hmm
        self.fine_min_len = fine_min_len  # shorter coarse tokens are never refined
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()  # load the dictionary once, at build time, not on the first request
        if user_dict:
            self._jieba.load_userdict(user_dict)
        self._freq = self._jieba.FREQ
        self._log_total = math.log(self._jieba.total)

    def coarse(self, text: str) -> list[Token]:
        """jieba's precise cut with offsets; whitespace-only pieces are separators, not tokens.

        jieba cuts the normalized text (full-width Latin and digits would otherwise fall apart character by
        character); normalization preserves length, so its offsets slice the original text.
        """
        pieces = self._jieba.tokenize(normalize(text), HMM=self.hmm)
        return [Token(text=text[s:e], start=s, end=e) for w, s, e in pieces if not w.isspace()]

    def refine(self, word: str) -> list[str]:
        """Split ``word`` into dictionary sub-words of length >= 2, or return ``[word]`` when none cover it."""
        n = len(word)
        if n < self.fine_min_len:
            return [word]
        # best[i] = (pieces, -log-prob, split points) for the prefix word[:i]
        best: list[tuple[int, float, tuple[int, ...]] | None] = [None] * (n + 1)
        best[0] = (0, 0.0, ())
        for end in range(2, n + 1):
            for start in range(0, end - 1):
                prev = best[start]
                if prev is None or (start == 0 and end == n):
                    continue
                freq = self._freq.get(word[start:end], 0)
                if freq <= 0:
                    continue
                cand = (prev[0] + 1, prev[1] - (math.log(freq) - self._log_total), (*prev[2], end))
                if best[end] is None or cand[:2] < best[end][:2]:  # type: ignore[index]
                    best[end] = cand
        final = best[n]
        if final is None:
            return [word]
        cuts = (0, *final[2])
        return [word[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]

    def fine(self, coarse: list[Token]) -> list[Token]:
        out: list[Token] = []
        for tok in coarse:
            pos = tok.start
            for piece in self.refine(tok.text):
                out.append(Token(text=piece, start=pos, end=pos + len(piece)))
                pos += len(piece)
        return out

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        out = []
        for doc in docs:
            wanted = doc.query.granularities or self.granularities
            sentences = []
            for sent in doc.sentences:
                coarse = self.coarse(sent.text)
                tokens: dict[Granularity, list[Token]] = {}
                if "coarse" in wanted:
                    tokens["coarse"] = coarse
                if "fine" in wanted:
                    tokens["fine"] = self.fine(coarse)
                sentences.append(sent.model_copy(update={"tokens": tokens}))
            out.append(doc.model_copy(update={"sentences": sentences}))
        return out
