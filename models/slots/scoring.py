"""Slot span scores, one definition for training, ``duihua eval slots`` and the benches.

Spans are compared by their character offsets alone, type ignored: datasets and lexicons name types
differently (SMP2019 ``name`` vs the gazetteer's ``app``), and what a request needs is its parameter found.
Precision counts predicted spans that equal a gold span; recall counts gold spans equal to a predicted one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from models.slots.data import Span


def span_scores(gold: Sequence[Sequence[Span]], predicted: Sequence[Iterable[tuple[int, int]]]) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` (4 decimals) and the counts behind them."""
    n_gold = n_pred = hit_pred = hit_gold = 0
    for g, p in zip(gold, predicted, strict=True):
        g_set, p_set = {(a, b) for a, b, _ in g}, set(p)
        n_gold += len(g)
        n_pred += len(p_set)
        hit_pred += len(p_set & g_set)
        hit_gold += sum((a, b) in p_set for a, b, _ in g)
    precision = hit_pred / n_pred if n_pred else 0.0
    recall = hit_gold / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "gold_spans": n_gold, "predicted": n_pred}


def recall_by_type(gold: Sequence[Sequence[Span]], predicted: Sequence[Iterable[tuple[int, int]]]
                   ) -> dict[str, tuple[int, float]]:
    """Per gold type: ``(count, recall)``, most frequent first."""
    count: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    for g, p in zip(gold, predicted, strict=True):
        p_set = set(p)
        for a, b, name in g:
            count[name] += 1
            hit[name] += (a, b) in p_set
    return {name: (n, round(hit[name] / n, 3)) for name, n in count.most_common()}
