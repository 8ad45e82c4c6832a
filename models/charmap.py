"""The segmenter's view of a text: normalized characters, with number and Latin runs folded to one symbol.

Why fold: the MSR training slice was normalised upstream (every digit run -> ``0``, some Latin/number tokens
-> ``L``), while PKU text and user queries keep their digits (１９９８年, 3.5公里, mp3). If the model saw raw
digits it would learn MSR's ``0年`` and PKU's ``１９９８年`` as unrelated inputs. Folding both sides the same
way (``models.normalization`` first, then each run of digits -> ``0`` and each run of Latin letters -> ``l``)
makes training and inference agree, and a number is never cut in the middle.

``model_view`` returns the folded characters and, for each, the span of the original text it stands for, so
words predicted on the folded view map back to exact offsets in the original text. Whitespace is dropped
(it is never part of a word); its position still separates words, because no folded character spans it.
"""

from __future__ import annotations

import re

from models.normalization import normalize

DIGIT_SYMBOL = "0"
LATIN_SYMBOL = "l"
# digits with internal decimal/thousands marks (3.5, 1,000, 12:30) and an optional percent sign are one number
_RUN = re.compile(r"[0-9]+(?:[.,:][0-9]+)*%?|[a-z]+|\s+|.", re.DOTALL)


def model_view(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Folded characters and their ``(start, end)`` spans in ``text``; whitespace is skipped."""
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in _RUN.finditer(normalize(text)):
        piece = m.group()
        if piece.isspace():
            continue
        if len(piece) == 1 and not piece.isascii():
            chars.append(piece)
        elif piece[0].isdigit():
            chars.append(DIGIT_SYMBOL)
        elif piece.isascii() and piece.isalpha():
            chars.append(LATIN_SYMBOL)
        else:
            chars.append(piece)
        spans.append(m.span())
    return chars, spans


def fold_words(words: list[str]) -> list[list[str]]:
    """Fold each gold word on its own, so runs never cross a gold boundary (training labels stay exact)."""
    return [model_view(w)[0] for w in words]


__all__ = ["DIGIT_SYMBOL", "LATIN_SYMBOL", "fold_words", "model_view"]
