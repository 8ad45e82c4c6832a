"""Gazetteer slot tagging: every lexicon match, a resolved non-overlapping set, and char-level slot features.

Resolution (the ``slots`` field): longest match first, then higher lexicon priority, then earlier start; a
match whose start or end falls strictly inside a coarse word is demoted (十年 inside 二十年代 -> 二十/年代 cuts
it) and, with ``boundary_policy: drop``, never resolved. All matches stay in ``slot_candidates`` with
``crosses_boundary`` set, and every candidate feeds ``char_slots`` ("B-singer"/"I-song" per character), which is
what the slot-aware intent model consumes: it learns how far to trust noisy gazetteer labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

from models.lexicon.features import char_tags, distinct_hits, selected_dirs
from models.lexicon.gazetteer import Gazetteer, GazetteerHit
from models.lexicon.live import LiveGazetteer
from pipeline.errors import ConfigError, InputError
from pipeline.schema import Granularity, PipelineResult, Sentence, SlotMatch, Token

BoundaryPolicy = Literal["drop", "demote", "ignore"]


class GazetteerSlotTagger:
    reads: ClassVar[frozenset[str]] = frozenset({"sentences"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences.slots"})

    def __init__(self, domains: Mapping[str, str] | None = None, extra_dirs: Sequence[str] = (),
                 cache_dir: str | None = None, boundary_granularity: Granularity = "coarse",
                 boundary_policy: BoundaryPolicy = "drop") -> None:
        if boundary_policy not in ("drop", "demote", "ignore"):
            raise ConfigError(f"slots.boundary_policy: expected drop|demote|ignore, got {boundary_policy!r}")
        self.domain_dirs = dict(domains or {})
        self.extra_dirs = list(extra_dirs)
        self.boundary_granularity = boundary_granularity
        self.boundary_policy = boundary_policy
        self.lexicons = LiveGazetteer(self.selected_dirs, cache_dir)

    @property
    def gazetteer(self) -> Gazetteer:
        return self.lexicons.current

    @property
    def slot_tags(self) -> list[str]:
        """The id space of ``char_slots``: ``B-``/``I-`` tags of every loaded slot type, sorted.

        ``char_slots`` carries tag names, which stay meaningful when lexicons are swapped; a model maps them to
        ids with this list (``slot_tags.index(tag)``) and must treat tags it has not seen as unknown.
        """
        types = sorted({src.slot for src in self.gazetteer.sources})
        return [f"{bi}-{t}" for t in types for bi in ("B", "I")]

    def selected_dirs(self) -> list[tuple[str, str]]:
        """``[(domain, folder)]`` this tagger loads: the configured domains, then the extra folders."""
        return selected_dirs(self.domain_dirs, self.extra_dirs)

    def live_lexicons(self) -> list[LiveGazetteer]:
        """What a hot reload refreshes (``Pipeline.prepare_reload``): this stage's one live gazetteer."""
        return [self.lexicons]

    # -- tagging -----------------------------------------------------------------------------------------
    @staticmethod
    def _to_match(hit: GazetteerHit, text: str, crosses: bool) -> SlotMatch:
        src = hit.source
        return SlotMatch(slot=src.slot, entity=src.slot, surface=text[hit.start:hit.end], value=hit.value,
                         start=hit.start, end=hit.end, domain=src.domain, lexicon=src.file,
                         source=f"gazetteer:{src.domain}/{src.slot}", priority=src.priority,
                         crosses_boundary=crosses)

    @staticmethod
    def _inner_boundaries(tokens: list[Token]) -> frozenset[int]:
        """Offsets strictly inside a word: a match starting or ending there cuts the word."""
        return frozenset(i for t in tokens for i in range(t.start + 1, t.end))

    @staticmethod
    def resolve(candidates: list[SlotMatch], policy: BoundaryPolicy = "drop") -> list[SlotMatch]:
        """Greedy non-overlapping selection; see the module docstring for the order."""
        pool = [m for m in candidates if not (policy == "drop" and m.crosses_boundary)]
        demote = policy == "demote"
        pool.sort(key=lambda m: (demote and m.crosses_boundary, -(m.end - m.start), -m.priority, m.start))
        taken: list[SlotMatch] = []
        used = bytearray(max((m.end for m in pool), default=0))
        for m in pool:
            if not any(used[m.start:m.end]):
                taken.append(m)
                used[m.start:m.end] = b"\x01" * (m.end - m.start)
        return sorted(taken, key=lambda m: (m.start, m.end))

    @staticmethod
    def char_features(length: int, candidates: list[SlotMatch]) -> list[list[str]]:
        """Per character, the sorted distinct tags of every candidate (``models.lexicon.features.char_tags``)."""
        return char_tags(length, ((m.start, m.end, m.slot) for m in candidates))

    def tag(self, sentence: Sentence, gazetteer: Gazetteer, domains: frozenset[str] | None) -> Sentence:
        hits = gazetteer.find(sentence.text, domains)
        tokens = sentence.tokens.get(self.boundary_granularity)
        inner = self._inner_boundaries(tokens) if tokens and self.boundary_policy != "ignore" else frozenset()
        candidates = [self._to_match(h, sentence.text, h.start in inner or h.end in inner)
                      for h in distinct_hits(hits)]
        return sentence.model_copy(update={
            "slot_candidates": candidates,
            "slots": self.resolve(candidates, self.boundary_policy),
            "char_slots": self.char_features(len(sentence.text), candidates),
        })

    def check_lexicons(self, lexicons: Sequence[str] | None) -> frozenset[str] | None:
        """The domains a query limits tagging to (None: all); unknown ones raise ``InputError``. Public so the
        server refuses them before queueing (a refused query makes its whole micro-batch rerun one by one)."""
        return self._domains(lexicons, self.gazetteer)

    @staticmethod
    def _domains(lexicons: Sequence[str] | None, gazetteer: Gazetteer) -> frozenset[str] | None:
        if lexicons is None:
            return None
        unknown = sorted(set(lexicons) - set(gazetteer.domains))
        if unknown:
            raise InputError(f"unknown lexicon domain(s) {unknown}; loaded: {gazetteer.domains}")
        return frozenset(lexicons)

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        gazetteer = self.gazetteer  # one read: a concurrent reload cannot mix two lexicon versions in a batch
        out = []
        for doc in docs:
            domains = self._domains(doc.query.lexicons, gazetteer)
            sentences = [self.tag(s, gazetteer, domains) for s in doc.sentences]
            out.append(doc.model_copy(update={"sentences": sentences}))
        return out
