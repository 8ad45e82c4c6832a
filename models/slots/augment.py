"""Training-time augmentation that teaches the tagger to use the gazetteer without leaning on it.

* ``swap_entities``: a copy of a request with a gold span that the gazetteer also matches replaced by another
  entry of the same gazetteer type (周杰伦 -> 林俊杰). The copy's span is new to the model but listed in the
  lexicon, which is exactly the case of an entity a user adds to a lexicon after training.
* ``drop_tags``: the gazetteer tags of some gold spans removed, so context alone must find them too (a
  lexicon never lists every entity).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace

from models.lexicon.features import CharTags, Featurizer
from models.slots.data import SlotExample


def swap_entities(examples: Sequence[SlotExample], tags: Sequence[CharTags], pool: Mapping[str, Sequence[str]],
                  featurize: Featurizer, copies: int, min_chars: int, seed: int
                  ) -> tuple[list[SlotExample], list[CharTags]]:
    rng = random.Random(seed)
    out: list[SlotExample] = []
    for ex, t in zip(examples, tags, strict=True):
        if not ex.tagged:
            continue
        choices = []
        for k, (start, end, _name) in enumerate(ex.spans):
            if end - start < min_chars:
                continue
            types = {tag[2:] for tag in t[start] if tag == f"B-{tag[2:]}"}
            whole = [ty for ty in types if end == len(t) or f"I-{ty}" not in t[end]]
            whole = [ty for ty in whole if all(f"I-{ty}" in t[i] for i in range(start + 1, end))]
            if whole:
                choices.append((k, sorted(whole)))
        for _ in range(copies if choices else 0):
            k, types = rng.choice(choices)
            start, end, name = ex.spans[k]
            entries = pool.get(rng.choice(types)) or []
            if not entries:
                continue
            new = rng.choice(entries)
            shift = len(new) - (end - start)
            text = ex.text[:start] + new + ex.text[end:]
            spans = tuple((a, b, n) if b <= start else (a + shift, b + shift, n) if a >= end else (a, b + shift, n)
                          for a, b, n in ex.spans)
            out.append(replace(ex, text=text, spans=spans))
    return out, featurize([x.text for x in out])


def drop_tags(examples: Sequence[SlotExample], tags: Sequence[CharTags], rate: float, seed: int) -> list[CharTags]:
    """Copies of ``tags`` with every tag inside a dropped gold span removed (each span dropped with ``rate``)."""
    rng = random.Random(seed)
    out = []
    for ex, t in zip(examples, tags, strict=True):
        t = [list(c) for c in t]
        for start, end, _ in ex.spans:
            if rng.random() < rate:
                for i in range(start, min(end, len(t))):
                    t[i] = []
        out.append(t)
    return out
