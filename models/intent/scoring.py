"""Intent scores, computed one way for training reports, ``duihua eval intent`` and ``bench/intent.py``.

All four numbers are percentages: ``accuracy`` on the file's own label (``domain`` for SMP2017,
``domain/intent`` for SMP2019), ``domain_accuracy``, ``intent_accuracy`` (the bare intent, SMP2019 only,
else None) and ``macro_f1`` over the file's labels (the union of gold and predicted labels, as scikit-learn
computes it by default).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from models.intent.data import INTENT_SEP, IntentExample


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    tp, fp, fn = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    labels = set(gold) | set(pred)
    f1 = [2 * tp[x] / (2 * tp[x] + fp[x] + fn[x]) if tp[x] else 0.0 for x in labels]
    return float(np.mean(f1)) if f1 else 0.0


def score(gold: Sequence[IntentExample], pred_labels: Sequence[str]) -> dict[str, float | None]:
    """``pred_labels``: predicted ``domain`` or ``domain/intent`` per example, compared on each example's
    own label scheme (an SMP2017 example is right when the predicted *domain* is right)."""
    if len(gold) != len(pred_labels):
        raise ValueError(f"{len(gold)} gold examples but {len(pred_labels)} predictions")
    pred_domain = [p.split(INTENT_SEP, 1)[0] for p in pred_labels]
    pred_own = [p if g.intent is not None else d for g, p, d in zip(gold, pred_labels, pred_domain, strict=True)]
    with_intent = [(g, p) for g, p in zip(gold, pred_labels, strict=True) if g.intent is not None]

    def pct(hits: int, n: int) -> float:
        return round(100.0 * hits / n, 2) if n else 0.0

    return {
        "accuracy": pct(sum(g.label == p for g, p in zip(gold, pred_own, strict=True)), len(gold)),
        "domain_accuracy": pct(sum(g.domain == d for g, d in zip(gold, pred_domain, strict=True)), len(gold)),
        "intent_accuracy": pct(sum(g.intent == p.partition(INTENT_SEP)[2] for g, p in with_intent), len(with_intent))
        if with_intent else None,
        "macro_f1": round(100.0 * macro_f1([g.label for g in gold], pred_own), 2),
        "examples": len(gold),
    }


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE over equal-width confidence bins, as a fraction."""
    conf, hit = np.asarray(confidence, float), np.asarray(correct, float)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - hit[inside].mean())
    return round(float(total), 4)
