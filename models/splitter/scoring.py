"""Boundary scores, as ``duihua eval split`` reports them (fractions in [0, 1])."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def gold_boundaries(sentences: Sequence[str]) -> set[int]:
    """Offsets after each sentence but the last, in the concatenation of ``sentences``."""
    out, pos = set(), 0
    for s in sentences[:-1]:
        pos += len(s)
        out.add(pos)
    return out


def score(gold: Sequence[set[int]], pred: Sequence[set[int]]) -> dict[str, float | int]:
    """Micro precision/recall/F1 over boundaries; ``exact`` = share of records with every boundary right.
    0/0 counts as 0, so a splitter that never splits has precision 0, not 1."""
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    n_pred, n_gold = sum(map(len, pred)), sum(map(len, gold))
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold) if gold else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "exact": round(exact, 4), "gold_boundaries": n_gold, "predicted_boundaries": n_pred}


def score_cuts(cuts: Callable[[list[str]], list[list[int]]], records: Sequence[Sequence[str]]
               ) -> dict[str, float | int]:
    """Score a cut function (texts -> sentence-end offsets) on records of unpunctuated sentences."""
    texts = ["".join(r) for r in records]
    pred = [{c for c in cs if c < len(t)} for cs, t in zip(cuts(texts), texts, strict=True)]
    return score([gold_boundaries(r) for r in records], pred)
