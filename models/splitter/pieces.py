"""Training pieces for the request scorer: whole sentences (complete) and the pieces wrong cuts produce.

A splitter that cuts wrongly leaves pieces of a few kinds, and the scorer must tell each from a complete
request: two or more requests left together (a missed cut), a request with its last characters cut off or
with the next one's first characters attached (a cut too early or too late), and the same at the start. Every
negative is drawn from a real join, so it looks exactly like what the joint decoder will ask about.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from models.splitter.joint import candidate_gaps, segments
from models.splitter.synth import Example

Piece = tuple[str, float]   # (text, 1.0 if exactly one sentence else 0.0)
KINDS = ("joined", "end", "start")


def offsets(example: Example) -> list[int]:
    """``[0, end of sentence 1, …, len(text)]``."""
    out = [0]
    for s in example:
        out.append(out[-1] + len(s))
    return out


def _shift(rng: random.Random, bounds: list[int], i: int, side: int, max_shift: int) -> tuple[int, int] | None:
    """Sentence ``i`` with its start (``side=0``) or end (``side=1``) moved by 1..max_shift characters,
    inward or outward; ``None`` when that leaves nothing or runs off the text."""
    a, b = bounds[i], bounds[i + 1]
    d = rng.choice([x for k in range(1, max_shift + 1) for x in (k, -k)])
    a, b = (a + d, b) if side == 0 else (a, b + d)
    if a < 0 or b > bounds[-1] or b - a < 1:
        return None
    return a, b


def pieces(example: Example, rng: random.Random, max_shift: int = 4) -> list[Piece]:
    """Every sentence of ``example`` as a positive, and as many negatives of the three kinds."""
    text, bounds = "".join(example), offsets(example)
    out: list[Piece] = [(s, 1.0) for s in example]
    for _ in example:
        kind = rng.choice(KINDS if len(example) > 1 else KINDS[1:])
        span: tuple[int, int] | None
        if kind == "joined":
            i = rng.randrange(len(example) - 1)
            span = bounds[i], bounds[rng.randrange(i + 2, len(example) + 1)]
        else:
            span = _shift(rng, bounds, rng.randrange(len(example)), KINDS.index(kind) - 1, max_shift)
        if span is not None and text[span[0]:span[1]] not in example:
            out.append((text[span[0]:span[1]], 0.0))
    return out


def training_pieces(examples: Iterable[Example], seed: int, max_shift: int = 4) -> list[Piece]:
    rng = random.Random(seed)
    return [p for ex in examples for p in pieces(ex, rng, max_shift)]


def candidate_pieces(example: Example, probs: Sequence[float], spans: Sequence[tuple[int, int]],
                     candidate_min: float, max_span: int) -> list[Piece]:
    """The pieces the joint decoder would ask about for this join: between any two of the boundary tagger's
    candidate gaps (probability ≥ ``candidate_min``, at most ``max_span`` apart), labelled complete exactly
    when they are one of the join's sentences. Hard negatives: the fragments a real tagger proposes (清理 |
    一下内存), where the shifted pieces above are random."""
    text, bounds = "".join(example), offsets(example)
    gold = set(zip(bounds, bounds[1:], strict=False))
    gaps = candidate_gaps(probs, candidate_min)
    if not gaps:
        return []
    nodes = [-1, *gaps, len(spans) - 1]
    out = []
    for i, j in segments(len(gaps), max_span):
        a, b = spans[nodes[i] + 1][0], spans[nodes[j]][1]
        out.append((text[a:b], 1.0 if (a, b) in gold else 0.0))
    return out
