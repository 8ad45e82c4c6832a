"""SIGHAN-bakeoff scoring of a segmentation: word-span precision, recall, F1 and OOV recall (percent).

A word is correct when its character span matches a gold word's span exactly. OOV recall is the recall of gold
words absent from the training vocabulary. Shared by training (dev scores in the model card) and
``duihua eval segment``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def word_spans(words: Sequence[str]) -> set[tuple[int, int]]:
    out, pos = set(), 0
    for w in words:
        out.add((pos, pos + len(w)))
        pos += len(w)
    return out


def score(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], vocab: Collection[str] | None = None
          ) -> dict[str, float | int | None]:
    n_gold = n_pred = n_correct = n_oov = n_oov_hit = 0
    for g_words, p_words in zip(gold, pred, strict=True):
        g, p = word_spans(g_words), word_spans(p_words)
        n_gold, n_pred, n_correct = n_gold + len(g), n_pred + len(p), n_correct + len(g & p)
        if vocab is not None:
            pos = 0
            for w in g_words:
                if w not in vocab:
                    n_oov += 1
                    n_oov_hit += (pos, pos + len(w)) in p
                pos += len(w)
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(100 * precision, 2), "recall": round(100 * recall, 2), "f1": round(100 * f1, 2),
            "oov_recall": round(100 * n_oov_hit / n_oov, 2) if n_oov else None,
            "gold_words": n_gold, "oov_words": n_oov}


def spans_cut(texts: Sequence[str], words: Sequence[Sequence[str]], spans: Sequence[Sequence[tuple[int, int]]]
              ) -> dict[str, float | int]:
    """How many character spans (slot values) of ``texts`` the segmentation ``words`` cuts through: a span
    whose start or end is not a word boundary (whitespace counts as one). Why it matters: a gazetteer match
    that a coarse word crosses is dropped by the slot stage's ``drop`` policy, so every cut span is a slot
    lost before the tagger sees it."""
    n = cut = 0
    for text, w, sp in zip(texts, words, spans, strict=True):
        bounds, pos = {0, len(text)}, 0
        for word in w:
            found = text.find(word, pos)
            if found < 0:  # a peer that normalises its words: its boundaries stay unknown, which counts as cut
                continue
            bounds.update((found, found + len(word)))
            pos = found + len(word)
        for a, b in sp:
            n += 1
            cut += a not in bounds or b not in bounds
    return {"spans": n, "cut": cut, "cut_percent": round(100 * cut / n, 2) if n else 0.0}
