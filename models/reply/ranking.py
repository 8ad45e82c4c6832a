"""Sample-and-rank: one score per candidate reply, and the best candidate that passes the safety net.

A candidate is a generated sample, the beam-search reply, or a stored response that BM25 found. Its score is

    selection · cos(query, candidate)                     (the response-selection model, ``selection.py``)
  + bias[kind]                                             (sample | beam | retrieval)
  + logprob · mean log-probability per token               (generated candidates only)
  + bm25 · BM25 score / the query's best BM25 score        (retrieved candidates only, in (0, 1])

Why weights beyond the selection score: the selection model never sees how fluent a generated reply is, nor
how closely the stored query matched; the weights are chosen on dev (``bench/reply_rank.py``). Pure Python,
so the bench can rescore cached candidates under many weightings without running a model again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.reply.safety import SafetyNet

KINDS = ("beam", "sample", "retrieval")


@dataclass
class Candidate:
    text: str
    kind: str                  # one of KINDS
    rank: int = 0              # its place within its kind: sample k, the k-th BM25 hit
    logprob: float = 0.0       # generated: mean log-probability per token
    bm25: float = 0.0          # retrieved: BM25 score relative to the query's best hit
    selection: float = 0.0     # cosine of the selection model

    @property
    def source(self) -> str:
        """``Reply.source`` of a reply that this candidate wins."""
        return "retrieval" if self.kind == "retrieval" else "generative"


@dataclass
class RankWeights:
    selection: float = 1.0
    logprob: float = 0.0
    bm25: float = 0.0
    bias: Mapping[str, float] = field(default_factory=dict)   # per kind; a missing kind gets 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.bias) - set(KINDS))
        if unknown:
            raise ValueError(f"bias: unknown kinds {unknown}; known: {list(KINDS)}")

    def score(self, c: Candidate) -> float:
        extra = self.logprob * c.logprob if c.kind != "retrieval" else self.bm25 * c.bm25
        return self.selection * c.selection + float(self.bias.get(c.kind, 0.0)) + extra


def dedupe(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The first candidate of each text (beam first, then samples, then hits: the order they are gathered);
    empty texts (a generation that ended at once) are dropped."""
    seen: set[str] = set()
    out = []
    for c in candidates:
        if c.text.strip() and c.text not in seen:
            seen.add(c.text)
            out.append(c)
    return out


def choose(candidates: Sequence[Candidate], weights: RankWeights, safety: SafetyNet
           ) -> tuple[Candidate, float] | None:
    """The best-scoring candidate that passes ``safety`` and its score (ties: the earlier candidate), or None
    when none passes: the caller answers its fallback line."""
    ranked = sorted(((weights.score(c), i, c) for i, c in enumerate(candidates)), key=lambda t: (-t[0], t[1]))
    for score, _, c in ranked:
        if safety.passes(c.text):
            return c, score
    return None
