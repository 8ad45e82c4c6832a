"""The safety net a chat reply passes before it leaves: a blocklist, length limits and repetition checks.

Why here and not in decoding: the candidates come from two places (sampled or beam-searched generations and
stored responses that BM25 found), and a stored Weibo reply can be as rude or as degenerate as a generated
one. The rank stage runs every candidate through ``SafetyNet.problem`` and answers the best one that passes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class SafetyNet:
    blocklist: Sequence[str] = field(default_factory=tuple)   # substrings a reply must not contain (any case)
    min_chars: int = 2            # non-space characters
    max_chars: int = 40
    max_char_run: int = 5         # the same character more than this many times in a row (哈哈哈哈哈哈)
    ngram: int = 2                # repetition check: an n-gram of this size (not one repeated character) ...
    max_ngram_count: int = 2      # ... occurring more than this many times (我也是我也是我也是)

    def __post_init__(self) -> None:
        if not 0 <= self.min_chars <= self.max_chars:
            raise ValueError(f"need 0 <= min_chars <= max_chars, got {self.min_chars}, {self.max_chars}")
        if self.max_char_run < 1 or self.ngram < 1 or self.max_ngram_count < 1:
            raise ValueError("max_char_run, ngram and max_ngram_count must be >= 1")
        self._blocked = [b.lower() for b in self.blocklist if b]

    def problem(self, text: str) -> str | None:
        """Why ``text`` may not be sent (``blocked``, ``too short``, ``too long``, ``character run``,
        ``repeated n-gram``), or None when it passes."""
        chars = [c for c in text if not c.isspace()]
        lowered = "".join(chars).lower()
        if any(b in lowered for b in self._blocked):
            return "blocked"
        if len(chars) < self.min_chars:
            return "too short"
        if len(chars) > self.max_chars:
            return "too long"
        run = 1
        for a, b in zip(chars, chars[1:], strict=False):
            run = run + 1 if a == b else 1
            if run > self.max_char_run:
                return "character run"
        grams = Counter(tuple(chars[i : i + self.ngram]) for i in range(len(chars) - self.ngram + 1))
        if any(count > self.max_ngram_count and len(set(g)) > 1 for g, count in grams.items()):
            return "repeated n-gram"
        return None

    def passes(self, text: str) -> bool:
        return self.problem(text) is None
