"""Reply metrics on characters: corpus BLEU-1/2 and distinct-1/2.

BLEU is corpus level (clipped n-gram counts summed over all replies, one brevity penalty for the corpus), with
NLTK's ``method1`` smoothing: an n-gram order with no match counts ``epsilon`` matches instead of zero, so a
short test set never scores a hard 0. Whitespace is ignored: each non-space character is one token.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

EPSILON = 0.1


def chars(text: str) -> list[str]:
    return [c for c in text if not c.isspace()]


def ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_n: int) -> float:
    """BLEU-``max_n`` (uniform weights) of hypotheses against one reference each, as a fraction in [0, 1]."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        h, r = chars(hyp), chars(ref)
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, max_n + 1):
            hyp_counts, ref_counts = ngrams(h, n), ngrams(r, n)
            matches[n - 1] += sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if hyp_len == 0:
        return 0.0
    log_p = 0.0
    for m, t in zip(matches, totals, strict=True):
        if t == 0:
            return 0.0
        log_p += math.log((m if m else EPSILON) / t) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_p)


def distinct(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of all texts (Li et al., 2016); 0 when there are none."""
    counts: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        counts.update(ngrams(chars(text), n))
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def reply_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """BLEU and distinct as fractions in [0, 1], four decimals."""
    return {"bleu1": round(corpus_bleu(hypotheses, references, 1), 4),
            "bleu2": round(corpus_bleu(hypotheses, references, 2), 4),
            "distinct1": round(distinct(hypotheses, 1), 4),
            "distinct2": round(distinct(hypotheses, 2), 4)}
