"""Gazetteer evidence as per-character tags: what every lexicon-aware model reads, in training and inference.

``char_tags`` lists, per character, the ``B-<slot>``/``I-<slot>`` tags of every gazetteer candidate covering it
(overlaps kept, sorted, most characters empty). Candidates do not depend on segmentation, so no segmenter is
needed. The pipeline's slot stage writes the same tags into ``Sentence.char_slots`` by calling these functions,
so the intent model and the slot tagger see identical features whether a trainer or the pipeline built them,
and swapping a lexicon swaps it in both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from models.lexicon.gazetteer import Gazetteer, GazetteerHit
from models.lexicon.gazetteer_load import load_gazetteer
from models.lexicon.live import LiveGazetteer
from models.lexicon.manifest import read_manifest

CharTags = list[list[str]]
Featurizer = Callable[[Sequence[str]], list[CharTags]]


def distinct_hits(hits: Iterable[GazetteerHit]) -> list[GazetteerHit]:
    """Drop repeats of one entry listed in two files of the same slot type (same span, slot and value)."""
    seen: set[tuple[int, int, str, str, str]] = set()
    out = []
    for h in hits:
        key = (h.start, h.end, h.source.domain, h.source.slot, h.value)
        if key not in seen:
            seen.add(key)
            out.append(h)
    return out


def char_tags(length: int, spans: Iterable[tuple[int, int, str]]) -> CharTags:
    """Per character, the sorted distinct ``B-``/``I-`` tags of every ``(start, end, slot)`` covering it."""
    tags: CharTags = [[] for _ in range(length)]
    touched: set[int] = set()
    for start, end, slot in spans:
        for i in range(start, min(end, length)):
            tag = f"{'B' if i == start else 'I'}-{slot}"
            if tag not in tags[i]:
                tags[i].append(tag)
                touched.add(i)
    for i in touched:  # sort only where something was added: sorting every empty list cost 1/3 of tagging
        tags[i].sort()
    return tags


def gazetteer_featurizer(gazetteer: Gazetteer | LiveGazetteer, domains: frozenset[str] | None = None
                         ) -> Featurizer:
    """texts -> ``char_tags`` per text, from one gazetteer (optionally restricted to some domains); a live one
    is read at each call, so a reload reaches the features."""

    def featurize(texts: Sequence[str]) -> list[CharTags]:
        out = []
        for text in texts:
            hits = distinct_hits(gazetteer.find(text, domains))
            out.append(char_tags(len(text), ((h.start, h.end, h.source.slot) for h in hits)))
        return out

    return featurize


def selected_dirs(domains: Mapping[str, str], extra_dirs: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``[(domain, folder)]``: the configured domains, then extra folders (their manifest names the domain)."""
    dirs = list(domains.items())
    for extra in extra_dirs:
        dirs.append((read_manifest(Path(extra).expanduser()).domain, extra))
    return dirs


def featurizer_from_config(cfg: Mapping[str, Any]) -> tuple[Featurizer, dict[str, list[str]]]:
    """From a composed training config holding a ``slots`` node (its ``domains``, ``extra_dirs`` and
    ``cache_dir``, as ``conf/slots/*.yaml`` give them): the featurizer, and every lexicon surface per slot type
    (the entity pool of swap augmentation)."""
    node = cfg["slots"]
    gazetteer = load_gazetteer(selected_dirs(node.get("domains") or {}, node.get("extra_dirs") or ()),
                               node.get("cache_dir"))
    return gazetteer_featurizer(gazetteer), gazetteer.surfaces_by_slot()


def train_with_gazetteer(cfg: Mapping[str, Any], check: Callable[[Mapping[str, Any]], None],
                         train: Callable[[Mapping[str, Any], Featurizer, dict[str, list[str]]], Any]) -> Any:
    """A lexicon-reading stage's ``duihua train``: ``check`` the config first (its mistakes fail in a second,
    before the gazetteer is built), then ``train(cfg, featurizer, entity pool)``."""
    check(cfg)
    featurize, pool = featurizer_from_config(cfg)
    return train(cfg, featurize, pool)
