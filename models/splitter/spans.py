"""Span helpers shared by the rule-based and the model-based splitters (offsets into the original text)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

TERMINATORS = "。！？!?；;…\n"
# punctuation that closes what precedes it (，。」》) stays with the left sentence when the model cuts after it;
# opening marks (「《“) belong to the sentence on the right
CLOSING = frozenset({"Pe", "Pf", "Po"})


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def has_content(piece: str) -> bool:
    """A fragment of punctuation, separators and control characters alone carries no request."""
    return any(unicodedata.category(ch)[0] not in "PZC" for ch in piece)


def punct_cuts(text: str, terminators: Iterable[str] = TERMINATORS) -> list[int]:
    """Offsets after each run of sentence-final punctuation (``？！`` and ``……`` stay together)."""
    term = frozenset(terminators)
    cuts, i, n = [], 0, len(text)
    while i < n:
        if text[i] in term:
            while i + 1 < n and text[i + 1] in term:
                i += 1
            cuts.append(i + 1)
        i += 1
    return cuts


def extend_over_closing(text: str, offset: int, limit: int) -> int:
    """Move a cut past whitespace and closing punctuation that follows it (not beyond ``limit``)."""
    while offset < limit and (text[offset].isspace() or unicodedata.category(text[offset]) in CLOSING):
        offset += 1
    return offset


def spans_from_cuts(text: str, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """Sentence spans between sorted cut offsets, trimmed, without content-free fragments."""
    out, start = [], 0
    for cut in [*sorted(set(cuts)), len(text)]:
        a, b = strip_span(text, start, cut)
        if b > a and has_content(text[a:b]):
            out.append((a, b))
        start = max(start, cut)
    return out
