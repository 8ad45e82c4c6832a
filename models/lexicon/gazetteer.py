"""One Aho-Corasick automaton over every selected lexicon: the matcher the slot stage, the featurizers and the
benches share.

Why one automaton: matching cost is linear in the text whatever the number of entries, so all domains are
searched in a single pass (``bench/slots.py`` measures it). Keys are normalized surfaces
(``models.normalization.normalize``), which is length-preserving, so match offsets are offsets in the original text.
Loading by folder, through the on-disk cache, is ``models.lexicon.gazetteer_load``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import ahocorasick

from models.lexicon.manifest import LexiconDomain
from models.normalization import normalize


@dataclass(frozen=True)
class SlotSource:
    """Where an entry came from; one per (domain, slot type, file)."""

    domain: str
    slot: str
    file: str
    priority: int


@dataclass(frozen=True)
class GazetteerHit:
    start: int
    end: int
    value: str
    source: SlotSource


@dataclass(frozen=True)
class Entries:
    """What each automaton word id stands for, as flat arrays (cheap to save as JSON and to load).

    Word ``w`` is a surface of ``lengths[w]`` characters whose entries are ``sources[i]``/``values[i]`` for ``i``
    in ``offsets[w]:offsets[w + 1]``: one per distinct (lexicon source, normalized value) pair.
    """

    lengths: list[int]
    offsets: list[int]
    sources: list[int]
    values: list[str]

    def of(self, word: int) -> Iterator[tuple[int, str]]:
        lo, hi = self.offsets[word], self.offsets[word + 1]
        return zip(self.sources[lo:hi], self.values[lo:hi], strict=True)

    def to_json(self) -> dict[str, object]:
        return {"lengths": self.lengths, "offsets": self.offsets, "sources": self.sources, "values": self.values}

    @classmethod
    def from_json(cls, data: dict) -> Entries:
        entries = cls(list(data["lengths"]), list(data["offsets"]), list(data["sources"]), list(data["values"]))
        if not (len(entries.offsets) == len(entries.lengths) + 1 and entries.offsets[-1] == len(entries.sources)
                == len(entries.values)):
            raise ValueError("entry arrays do not agree")
        return entries


class Gazetteer:
    """Immutable matcher: ``find(text)`` returns every lexicon match with spans in ``text``."""

    def __init__(self, automaton: ahocorasick.Automaton | None, entries: Entries, sources: list[SlotSource],
                 domains: list[str], content_hash: str) -> None:
        self.automaton = automaton   # None when no lexicon has an entry
        self.entries = entries
        self.sources = sources
        self.domains = domains
        self.content_hash = content_hash
        self.size = len(entries.values)  # number of distinct (surface, source, value) entries

    def find(self, text: str, domains: frozenset[str] | None = None) -> list[GazetteerHit]:
        """All matches, overlaps kept, ordered by (start, end). ``domains`` restricts to those lexicons."""
        if self.automaton is None or not text:
            return []
        hits: list[GazetteerHit] = []
        sources, entries = self.sources, self.entries
        for end_idx, word in self.automaton.iter(normalize(text)):
            start = end_idx - entries.lengths[word] + 1
            for src_idx, value in entries.of(word):
                src = sources[src_idx]
                if domains is None or src.domain in domains:
                    hits.append(GazetteerHit(start, end_idx + 1, value, src))
        hits.sort(key=lambda h: (h.start, h.end))
        return hits

    def _words(self) -> Iterator[tuple[str, int]]:
        return iter(()) if self.automaton is None else self.automaton.items()

    def counts(self) -> tuple[dict[SlotSource, int], int]:
        """Entries per source, and the number of distinct normalized surfaces (for ``lexicon stats``)."""
        per_source = dict.fromkeys(self.sources, 0)
        for src_idx in self.entries.sources:
            per_source[self.sources[src_idx]] += 1
        return per_source, len(self.entries.lengths)

    def surfaces_by_slot(self) -> dict[str, list[str]]:
        """Every (normalized) surface per slot type, sorted: the entity pool of the intent trainer's
        entity-swap augmentation."""
        pool: dict[str, set[str]] = {}
        for key, word in self._words():
            for src_idx, _value in self.entries.of(word):
                pool.setdefault(self.sources[src_idx].slot, set()).add(key)
        return {slot: sorted(surfaces) for slot, surfaces in sorted(pool.items())}

    def lookup(self, surface: str) -> list[GazetteerHit]:
        """Exact lookup of one surface form (for ``duihua lexicon lookup``)."""
        if self.automaton is None:
            return []
        word = self.automaton.get(normalize(surface), None)
        if word is None:
            return []
        return [GazetteerHit(0, len(surface), value, self.sources[i]) for i, value in self.entries.of(word)]


def build_gazetteer(domains: Sequence[LexiconDomain], digest: str = "") -> Gazetteer:
    """One automaton over every entry of ``domains``; ``digest`` is their ``content_hash`` (the cache key)."""
    sources: list[SlotSource] = []
    source_index: dict[tuple[str, str, str], int] = {}
    table: dict[str, dict[tuple[int, str], None]] = {}  # key -> ordered set of (source, value)
    for dom in domains:
        priorities = {s.type: s.priority for s in dom.manifest.slots}
        for slot_type, entries in dom.entries.items():
            for fname, entry in entries:
                skey = (dom.name, slot_type, fname)
                idx = source_index.get(skey)
                if idx is None:
                    idx = source_index[skey] = len(sources)
                    sources.append(SlotSource(dom.name, slot_type, fname, priorities[slot_type]))
                key = normalize(entry.surface)
                table.setdefault(key, {})[(idx, entry.value)] = None
    entries = Entries([], [0], [], [])
    automaton = None
    if table:
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for word, (key, payload) in enumerate(table.items()):
            automaton.add_word(key, word)
            entries.lengths.append(len(key))
            for src_idx, value in payload:
                entries.sources.append(src_idx)
                entries.values.append(value)
            entries.offsets.append(len(entries.sources))
        automaton.make_automaton()
    return Gazetteer(automaton, entries, sources, [d.name for d in domains], digest)
