"""Joint splitting: cut where the boundary model sees a gap *and* the pieces stand on their own as requests.

The boundary tagger decides each gap from its two sides. Two requests that read on into each other
(我想听周杰伦的稻香明天北京天气怎么样) fool it in both directions: the gap after 稻香 looks like the middle of a
name, and a request's own inner gaps (怎么样 | 能不走高速) look like ends. The pieces a cut set leaves say more:
"明天北京天气怎么样" is a request, "香明天北京天气" is not. So the decoder scores whole cut sets:

    score(cuts) = Σ_cut [w_b · logit p_b(gap) + bias] + Σ_piece Σ_k w_k · log s_k(piece)

where p_b is the boundary probability and each ``s_k`` is piece evidence: the request scorer's P(exactly one
complete request) (``scorer.py``), or the intent model's confidence (``intent_confidence``). Gap evidence
adds to single cuts: ``inside_entity`` penalises a cut through a lexicon entry (周杰|伦的稻香; README,
"Sentence splitting", has how rarely a true boundary falls inside one). Gaps below ``candidate_min`` are
never cut, so a lone request with no doubtful gap costs nothing extra; candidate evidence (``entity_ends``)
is the exception, asked of every piece because it proposes gaps of its own. The best cut set
is a Viterbi search over the candidates in order, a piece spanning at most ``max_span`` of them: linear in
the number of candidates, and all candidate pieces of a batch go through each piece model in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.splitter.inference import BoundaryTagger, Tags

PieceScore = Callable[[Sequence[str]], list[float]]   # texts -> log evidence that each is one request
GapScore = Callable[[Sequence[str]], list[list[float]]]   # texts -> per offset k, evidence for a cut before k
_EPS = 1e-6


@dataclass(frozen=True)
class JointSettings:
    candidate_min: float = 0.05    # gaps whose boundary probability is below this are never cut
    max_span: int = 8              # a piece holds at most max_span - 1 rejected candidates
    boundary_weight: float = 1.0   # w_b: weight of the boundary logit of each cut
    cut_bias: float = 0.0          # added per cut: < 0 asks for more evidence before cutting


def candidate_gaps(probs: Sequence[float], candidate_min: float) -> list[int]:
    """Gaps ``i`` (a sentence would end after character ``i``) worth asking about; the last character is
    the end of the piece, not a gap."""
    return [i for i in range(len(probs) - 1) if probs[i] >= candidate_min]


def segments(n_candidates: int, max_span: int) -> list[tuple[int, int]]:
    """Node pairs ``(i, j)``, ``0 <= i < j <= n + 1``, ``j - i <= max_span``: node 0 is the start, node
    ``n + 1`` the end, node ``k`` the ``k``-th candidate gap."""
    last = n_candidates + 1
    return [(i, j) for j in range(1, last + 1) for i in range(max(0, j - max_span), j)]


def best_cuts(cut_scores: Sequence[float], piece_scores: Mapping[tuple[int, int], float], max_span: int
              ) -> list[int]:
    """Viterbi over nodes: the candidate indices (0-based) of the best-scoring cut set."""
    n = len(cut_scores)
    best = [0.0] + [-math.inf] * (n + 1)
    back = [0] * (n + 2)
    for j in range(1, n + 2):
        gain = cut_scores[j - 1] if j <= n else 0.0
        for i in range(max(0, j - max_span), j):
            value = best[i] + piece_scores[(i, j)] + gain
            if value > best[j]:
                best[j], back[j] = value, i
    chosen, j = [], back[n + 1]
    while j > 0:
        chosen.append(j - 1)
        j = back[j]
    return chosen[::-1]


def boundary_logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p) - math.log1p(-p)


class JointDecoder(BoundaryTagger):
    """A boundary tagger's probabilities, decided jointly with piece evidence (module docstring)."""

    def __init__(self, tagger: BoundaryTagger, evidence: Sequence[tuple[PieceScore, float]],
                 settings: JointSettings = JointSettings(), gap_evidence: Sequence[tuple[GapScore, float]] = (),
                 candidate_evidence: Sequence[tuple[GapScore, float]] = ()) -> None:
        """``gap_evidence`` is asked only about pieces that have candidates; ``candidate_evidence`` about every
        piece, and a gap where it is positive becomes a candidate whatever the tagger says."""
        if settings.max_span < 1:
            raise ValueError(f"max_span must be at least 1, got {settings.max_span}")
        self.tagger, self.settings = tagger, settings
        self.evidence = [(fn, w) for fn, w in evidence if w]
        self.gap_evidence = [(fn, w) for fn, w in gap_evidence if w]
        self.candidate_evidence = [(fn, w) for fn, w in candidate_evidence if w]
        self.max_chars, self.margin = tagger.max_chars, tagger.margin
        self.threshold, self.terminators = tagger.threshold, tagger.terminators
        self.reads_tags, self.featurize = tagger.reads_tags, tagger.featurize

    def probabilities(self, sequences: Sequence[Sequence[str]], tags: Sequence[Tags] | None = None
                      ) -> list[list[float]]:
        return self.tagger.probabilities(sequences) if tags is None else self.tagger.probabilities(sequences, tags)

    def choose(self, texts: Sequence[str], views: Sequence[tuple[list[str], list[tuple[int, int]]]],
               probs: Sequence[Sequence[float]]) -> list[list[int]]:
        s = self.settings
        extra: dict[int, list[float]] = {}   # piece -> per offset, the weighted gap evidence for a cut there
        add_gap_scores(extra, self.candidate_evidence, texts, range(len(texts)))
        cands = [sorted({*candidate_gaps(p, s.candidate_min),
                         *(g for g in range(len(spans) - 1) if k in extra and extra[k][spans[g][1]] > 0)})
                 for k, (p, (_, spans)) in enumerate(zip(probs, views, strict=True))]
        add_gap_scores(extra, self.gap_evidence, texts, [k for k, gaps in enumerate(cands) if gaps])
        asks: list[tuple[int, tuple[int, int]]] = []   # (piece, segment)
        pieces: list[str] = []
        for k, ((_, spans), gaps) in enumerate(zip(views, cands, strict=True)):
            if not gaps:
                continue
            nodes = [-1, *gaps, len(spans) - 1]   # the last model character of each node's piece
            for i, j in segments(len(gaps), s.max_span):
                asks.append((k, (i, j)))
                pieces.append(texts[k][spans[nodes[i] + 1][0]:spans[nodes[j]][1]])
        totals = [0.0] * len(pieces)
        for fn, weight in self.evidence:
            for n, v in enumerate(fn(pieces) if pieces else []):
                totals[n] += weight * v
        per_piece: list[dict[tuple[int, int], float]] = [{} for _ in views]
        for (k, seg), v in zip(asks, totals, strict=True):
            per_piece[k][seg] = v
        out = []
        for k, (p, gaps, seg_scores) in enumerate(zip(probs, cands, per_piece, strict=True)):
            if not gaps:
                out.append([])
                continue
            spans = views[k][1]
            row = extra.get(k)
            cut_scores = [s.boundary_weight * boundary_logit(p[g]) + s.cut_bias + (row[spans[g][1]] if row else 0.0)
                          for g in gaps]
            out.append([gaps[c] for c in best_cuts(cut_scores, seg_scores, s.max_span)])
        return out


def add_gap_scores(extra: dict[int, list[float]], evidence: Sequence[tuple[GapScore, float]],
                   texts: Sequence[str], pieces: Sequence[int]) -> None:
    """Add each weighted gap evidence of ``texts[k]`` for every ``k`` in ``pieces`` into ``extra[k]``."""
    if not pieces:
        return
    for fn, weight in evidence:
        for k, row in zip(pieces, fn([texts[k] for k in pieces]), strict=True):
            base = extra.get(k) or [0.0] * (len(texts[k]) + 1)
            extra[k] = [a + weight * b for a, b in zip(base, row, strict=True)]


def entity_ends(find: Callable[[str], Sequence[tuple[int, int]]], min_chars: int = 2) -> GapScore:
    """Candidate evidence: +1 right after a lexicon match of at least ``min_chars`` characters that no other
    match runs through (稻香 | 明天), 0 elsewhere."""

    def score(texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            spans = [(a, b) for a, b in find(text) if b - a >= min_chars]
            inside = {k for a, b in spans for k in range(a + 1, b)}
            row = [0.0] * (len(text) + 1)
            for _, end in spans:
                if end < len(text) and end not in inside:
                    row[end] = 1.0
            out.append(row)
        return out

    return score


def inside_entity(find: Callable[[str], Sequence[tuple[int, int]]], min_chars: int = 3) -> GapScore:
    """Gap evidence: -1 at every offset strictly inside a lexicon match of at least ``min_chars``
    characters (``find`` gives a text's match spans), 0 elsewhere."""

    def score(texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            row = [0.0] * (len(text) + 1)
            for start, end in find(text):
                if end - start >= min_chars:
                    for k in range(start + 1, end):
                        row[k] = -1.0
            out.append(row)
        return out

    return score


def intent_confidence(classifier: object, featurizer: Callable[[Sequence[str]], list] | None = None
                      ) -> PieceScore:
    """Piece evidence from an intent classifier (``models.intent.inference.IntentClassifier``): the log of
    its calibrated top *domain* probability, with the gazetteer's character tags when ``featurizer`` is given.
    The domain head alone: on the tuning joins it says as much about "is this one request" as the full
    decode, without that decode's per-label Python loop."""

    def score(texts: Sequence[str]) -> list[float]:
        tags = featurizer(texts) if featurizer is not None else [[] for _ in texts]
        dom, intent, _ = classifier.logits(texts, tags)  # type: ignore[attr-defined]
        p_dom, _ = classifier.probabilities(dom, intent)  # type: ignore[attr-defined]
        return [math.log(max(float(p), _EPS)) for p in p_dom.max(axis=-1)]

    return score


def intent_evidence(checkpoint: str | Path, lexicon_dirs: Sequence[tuple[str, str]], cache_dir: str | None = None
                    ) -> PieceScore:
    """``intent_confidence`` of an intent checkpoint, fed the tags of the given ``(domain, folder)`` lexicons
    as the pipeline feeds them."""
    from models.intent.inference import IntentClassifier
    from models.lexicon.features import gazetteer_featurizer
    from models.lexicon.gazetteer_load import load_gazetteer

    return intent_confidence(IntentClassifier.from_pretrained(checkpoint),
                             gazetteer_featurizer(load_gazetteer(list(lexicon_dirs), cache_dir)))
