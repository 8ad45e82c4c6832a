"""Synthetic unpunctuated inputs: sentences from one source joined, punctuation and spaces removed.

An example is a list of sentences; the input is their concatenation and the labels are the joins. Each
source contributes the kind of run-on text an assistant hears:

* ``requests``: 1–4 unrelated requests back to back (明天天气怎么样 + 我想听稻香 + …);
* ``dialogue``: one CrossWOZ turn, or two consecutive turns, cut at 。！？ (好的 + 麻烦您帮我叫一辆出租车);
* ``turns``: one CrossWOZ turn that holds two or more sentences;
* ``chat``: one or two consecutive chat utterances;
* ``news``: 1–3 consecutive sentences of a news paragraph.

Single-sentence examples are part of every source's mix, so the model also learns when *not* to split.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.splitter.sources import Group

Example = list[str]


def strip_punct(text: str) -> str:
    """What ASR output looks like: no punctuation (Unicode P*) and no whitespace."""
    return "".join(ch for ch in text if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


def clean(sentences: Sequence[str], max_chars: int) -> Example:
    """Strip every sentence, drop empty ones, and keep whole sentences from the front up to ``max_chars``."""
    out, size = [], 0
    for s in map(strip_punct, sentences):
        if not s:
            continue
        if out and size + len(s) > max_chars:
            break
        out.append(s[:max_chars])
        size += len(out[-1])
    return out


def _weighted(rng: random.Random, weights: Mapping[int, float]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


_BY_LABEL: dict[int, dict[str, list[Group]]] = {}


def requests_example(groups: Sequence[Group], rng: random.Random, counts: Mapping[int, float],
                     same_label_p: float = 0.0) -> list[str]:
    """1..k requests; with probability ``same_label_p`` all from the first one's domain (weather after
    weather is the hardest join: no change of topic marks the boundary)."""
    k = _weighted(rng, counts)
    first = rng.choice(groups)
    pool: Sequence[Group] = groups
    if same_label_p and first.label and rng.random() < same_label_p:   # no draw when off: dev sets stay fixed
        by_label = _BY_LABEL.get(id(groups))
        if by_label is None:
            by_label = _BY_LABEL[id(groups)] = {}
            for g in groups:
                by_label.setdefault(g.label, []).append(g)
        pool = by_label[first.label]
    return [first.blocks[0][0], *(rng.choice(pool).blocks[0][0] for _ in range(k - 1))]


def consecutive_blocks(groups: Sequence[Group], rng: random.Random, counts: Mapping[int, float]) -> list[str]:
    """1..k consecutive blocks (turns, utterances) of one group, all their sentences."""
    group = rng.choice(groups)
    k = min(_weighted(rng, counts), len(group.blocks))
    start = rng.randrange(len(group.blocks) - k + 1)
    return [s for block in group.blocks[start:start + k] for s in block]


def news_example(groups: Sequence[Group], rng: random.Random, counts: Mapping[int, float]) -> list[str]:
    paragraph = rng.choice(rng.choice(groups).blocks)
    k = min(_weighted(rng, counts), len(paragraph))
    start = rng.randrange(len(paragraph) - k + 1)
    return paragraph[start:start + k]


_MULTI: dict[int, list[list[str]]] = {}


def multi_sentence_turn(groups: Sequence[Group], rng: random.Random, counts: Mapping[int, float]) -> list[str]:
    """One turn that holds two or more sentences: rare among all turns (~10 % in CrossWOZ) but exactly the
    held-out "multi-sentence dialogue turn" kind, so the mix can weight it on its own."""
    pool = _MULTI.get(id(groups))
    if pool is None:
        pool = _MULTI[id(groups)] = [b for g in groups for b in g.blocks if len(b) >= 2]
    return rng.choice(pool) if pool else consecutive_blocks(groups, rng, counts)


MAKERS = {"requests": requests_example, "dialogue": consecutive_blocks, "turns": multi_sentence_turn,
          "chat": consecutive_blocks, "news": news_example}
GROUPS_OF = {"turns": "dialogue"}  # mix entries that draw on another source's groups


@dataclass(frozen=True)
class SpeechNoise:
    """What spoken run-on requests have and typed SMP queries do not (all probabilities per request):

    * a connective before a non-first request (…稻香 | 顺便把空调调到二十六度);
    * a filler or hedge before any request (嗯 | 那个 | 帮我 …): 嗯 at the start of a request, not the end
      of the previous one;
    * a restart: the request's first characters said twice (我想听我想听稻香).

    Every boundary stays before the added words: they belong to the request they introduce.
    """

    connectives: Sequence[str] = ()
    connective_p: float = 0.0
    fillers: Sequence[str] = field(default=())
    filler_p: float = 0.0
    restart_p: float = 0.0
    same_label_p: float = 0.0   # requests source: share of runs drawn from one domain

    def apply(self, example: list[str], rng: random.Random) -> list[str]:
        out = []
        for i, s in enumerate(example):
            if self.restart_p and len(s) >= 4 and rng.random() < self.restart_p:
                s = s[:rng.randint(1, min(4, len(s) - 2))] + s
            if i and self.connectives and rng.random() < self.connective_p:
                s = rng.choice(self.connectives) + s
            if self.fillers and rng.random() < self.filler_p:
                s = rng.choice(self.fillers) + s
            out.append(s)
        return out


def synthesize(groups: Mapping[str, Sequence[Group]], mix: Mapping[str, float],
               counts: Mapping[str, Mapping[int, float]], n: int, seed: int, max_chars: int,
               noise: SpeechNoise | None = None) -> list[Example]:
    """``n`` examples drawn by ``mix`` (source -> weight) with per-source sentence/block counts; ``noise``
    (spoken connectives, fillers, restarts) applies to the ``requests`` source only."""
    rng = random.Random(seed)
    sources = [s for s, w in mix.items() if w and groups.get(GROUPS_OF.get(s, s))]
    weights = [mix[s] for s in sources]
    out: list[Example] = []
    while len(out) < n:
        source = rng.choices(sources, weights=weights)[0]
        pool = groups[GROUPS_OF.get(source, source)]
        source_counts = counts.get(source, {1: 1.0})
        if source == "requests":
            sentences = requests_example(pool, rng, source_counts, noise.same_label_p if noise else 0.0)
            if noise is not None:
                sentences = noise.apply(sentences, rng)
        else:
            sentences = MAKERS[source](pool, rng, source_counts)
        example = clean(sentences, max_chars)
        if example:
            out.append(example)
    return out


def multi_sentence_blocks(groups: Sequence[Group], max_chars: int) -> list[Example]:
    """Every block with at least two sentences (the held-out "multi-sentence dialogue turns" kind)."""
    out = []
    for group in groups:
        for block in group.blocks:
            example = clean(block, max_chars)
            if len(example) >= 2:
                out.append(example)
    return out
