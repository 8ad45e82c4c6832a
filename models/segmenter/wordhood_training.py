"""Wordhood features at training time: which word lists to read, what dev looks like without its own words,
and the training-time dropout of listed gold words.

Why apart from ``wordhood.py``: inference needs only the matcher and the checkpoint's lists; these pieces
know the training views and the config's ``wordhood`` node.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.common.errors import TrainConfigError
from models.segmenter.wordhood import Wordhood, fold_word, read_words


def word_spans(words: Sequence[Sequence[str]]) -> set[tuple[int, int]]:
    """``(start, end)`` of each word, in characters."""
    spans, start = set(), 0
    for w in words:
        spans.add((start, start + len(w)))
        start += len(w)
    return spans


class WordhoodFeaturizer:
    """The wordhood bits of training examples: a gold word's match in a list derived from its own sentences
    (``derived``: source indices) is dropped with probability ``dropout``, so that training sees unlisted
    words as often as a test set brings them."""

    def __init__(self, wordhood: Wordhood | None, dropout: float = 0.0, derived: Sequence[int] = (),
                 seed: int = 0) -> None:
        self.wordhood, self.dropout, self.derived = wordhood, dropout, list(derived)
        self.rng = random.Random(seed)

    def __call__(self, piece: Sequence[Sequence[str]], chars: Sequence[str]) -> Any:
        if self.wordhood is None:
            return None
        spans = word_spans(piece) if self.derived and self.dropout else set()
        return self.wordhood.bits(chars, {i: spans for i in self.derived}, self.dropout, self.rng)


def wordhood_lists(cfg: Mapping[str, Any]) -> dict[str, set[str]]:
    """``wordhood.sources``: name -> folded words of its files (paths and globs under ``data.dir``)."""
    root = Path(cfg["data"]["dir"])
    lists = {}
    for name, source in dict((cfg.get("wordhood") or {}).get("sources") or {}).items():
        paths = [p for pattern in source["files"] for p in sorted(root.glob(pattern))]
        if not paths:
            raise TrainConfigError(f"wordhood.sources.{name}: no file matches {list(source['files'])} under {root}")
        lists[name] = read_words(paths)
    return lists


def derived_sources(cfg: Mapping[str, Any], view: str) -> list[int]:
    """Indices of the sources whose words were collected from ``view``'s sentences (``derived_from``)."""
    sources = dict((cfg.get("wordhood") or {}).get("sources") or {})
    return [i for i, s in enumerate(sources.values()) if view in (s.get("derived_from") or [])]


def held_out_lists(cfg: Mapping[str, Any], lists: Mapping[str, set[str]], dev: Mapping[str, list[list[str]]],
                   train_words: set[str]) -> dict[str, set[str]]:
    """The lists without the words only the dev sentences of their own views hold (``train_words``: every
    training sentence's words): how the lists would look had the dev sentences been a test set (the official
    word lists hold no test-only words)."""
    folded_train = {fold_word(w) for w in train_words}
    out = {}
    for i, (name, words) in enumerate(lists.items()):
        dev_only = {fold_word(w) for view, sentences in dev.items() if i in derived_sources(cfg, view)
                    for s in sentences for w in s} - folded_train
        out[name] = words - dev_only
    return out
