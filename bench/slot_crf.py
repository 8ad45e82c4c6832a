"""The char CRF slot baseline (sklearn-crfsuite), the approach of Rasa's CRFEntityExtractor.

Features per character: the character, its neighbours within 2, the bigrams around it, digit/Latin/punctuation
flags, and (``gazetteer=True``) the gazetteer's B-/I- tags, so the CRF gets the same knowledge as the tagger.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sklearn_crfsuite

from models.lexicon.features import CharTags
from models.slots.data import SlotExample, Span


def _kind(c: str) -> str:
    if c.isdigit():
        return "digit"
    if c.isascii() and c.isalpha():
        return "latin"
    return unicodedata.category(c)[0]


def char_features(text: str, tags: CharTags | None) -> list[dict[str, object]]:
    out = []
    padded = f"^^{text}$$"
    for i in range(len(text)):
        j = i + 2
        f: dict[str, object] = {"bias": 1.0, "c0": padded[j], "kind": _kind(text[i])}
        for k in (-2, -1, 1, 2):
            f[f"c{k}"] = padded[j + k]
        f["b-1"], f["b+1"] = padded[j - 1:j + 1], padded[j:j + 2]
        f["t-1"] = padded[j - 1:j + 2]
        for tag in (tags[i] if tags else []):
            f[f"gaz:{tag}"] = 1.0
        out.append(f)
    return out


def bio(example: SlotExample) -> list[str]:
    labels = ["O"] * len(example.text)
    for start, end, name in example.spans:
        labels[start] = f"B-{name}"
        for i in range(start + 1, end):
            labels[i] = f"I-{name}"
    return labels


def spans(labels: Sequence[str]) -> list[Span]:
    out, start = [], None
    for i, tag in enumerate([*labels, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == labels[start][2:]):
            out.append((start, i, labels[start][2:]))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start = i
    return out


class CharCrf:
    def __init__(self, c1: float = 0.05, c2: float = 0.05, max_iterations: int = 150, gazetteer: bool = True) -> None:
        self.crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=c1, c2=c2, max_iterations=max_iterations,
                                        all_possible_transitions=True)
        self.gazetteer = gazetteer

    def fit(self, examples: Sequence[SlotExample], tags: Sequence[CharTags]) -> CharCrf:
        keep = [(x, t) for x, t in zip(examples, tags, strict=True) if x.text]
        self.crf.fit([char_features(x.text, t if self.gazetteer else None) for x, t in keep], [bio(x) for x, _ in keep])
        return self

    def predict(self, texts: Sequence[str], tags: Sequence[CharTags]) -> list[list[Span]]:
        feats = [char_features(t, g if self.gazetteer else None) for t, g in zip(texts, tags, strict=True)]
        return [spans(labels) for labels in self.crf.predict(feats)]
