"""Entity-swap augmentation: copies of training queries with a gazetteer entity replaced by another entry of
the same slot type (我想听稻香 -> 我想听七里香), tags recomputed by the gazetteer.

Why: a query's domain rarely depends on *which* song or city it names, but a small training set names only a
few hundred. Swapping teaches the model that the slot evidence, not the memorised name, carries the label,
which is exactly what the fusion gate is for; a text-only model gains little from it, because the new names
are, to it, unseen character strings.

Spans come from ``char_slots``: a ``B-x`` tag and the ``I-x`` tags that follow it; the longest span of a
query is swapped (ties: the first). The label stays.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from models.intent.data import IntentExample

CharSlots = Sequence[Sequence[str]]


def entity_spans(char_slots: CharSlots) -> list[tuple[int, int, str]]:
    """``(start, end, slot_type)`` of every tagged span, end-exclusive."""
    spans = []
    for i, tags in enumerate(char_slots):
        for tag in tags:
            bio, _, slot = tag.partition("-")
            if bio != "B":
                continue
            end = i + 1
            while end < len(char_slots) and f"I-{slot}" in char_slots[end]:
                end += 1
            spans.append((i, end, slot))
    return spans


def swap_entities(examples: Sequence[IntentExample], char_slots: Sequence[CharSlots],
                  pool: Mapping[str, Sequence[str]], featurize: Callable[[Sequence[str]], list],
                  copies: int = 1, min_chars: int = 2, seed: int = 0) -> tuple[list[IntentExample], list]:
    """Up to ``copies`` swapped variants of each example that has a span of at least ``min_chars``."""
    rng = random.Random(seed)
    out: list[IntentExample] = []
    for ex, slots in zip(examples, char_slots, strict=True):
        spans = [s for s in entity_spans(slots) if s[1] - s[0] >= min_chars and pool.get(s[2])]
        if not spans:
            continue
        start, end, slot = max(spans, key=lambda s: (s[1] - s[0], -s[0]))
        for _ in range(copies):
            surface = rng.choice(pool[slot])
            if surface != ex.text[start:end]:
                out.append(IntentExample(ex.text[:start] + surface + ex.text[end:], ex.domain, ex.intent))
    return out, featurize([x.text for x in out])


def drop_tags(char_slots: Sequence[CharSlots], p: float, seed: int = 0) -> list[list[list[str]]]:
    """Each tagged span's tags removed with probability ``p`` (the copies are new lists).

    Why: the lexicons hold the training queries' own slot values, so in training every entity is tagged,
    while at test time unseen entities are not. Without dropout the model learns "no tag, so not music";
    dropping tags makes it meet untagged entities in training too, as it will in use."""
    rng = random.Random(seed)
    out = []
    for slots in char_slots:
        tags = [list(t) for t in slots]
        for start, end, slot in entity_spans(slots):
            if rng.random() < p:
                for i in range(start, end):
                    tags[i] = [t for t in tags[i] if t.partition("-")[2] != slot]
        out.append(tags)
    return out
