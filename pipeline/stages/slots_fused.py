"""``slots=fused``: the learned slot tagger (``models/slots``) over the gazetteer, plus normalized values.

Per sentence, in one batch:

1. the gazetteer (``GazetteerSlotTagger``) finds every lexicon candidate and writes ``char_slots``;
2. the tagger reads the text *and* those tags (gated fusion) and proposes spans with a confidence;
3. ``pipeline.values`` finds dates, times, durations, numbers, temperatures and percentages.

Resolution into ``Sentence.slots`` (non-overlapping, by start), the one policy of this stage:

* the tagger's spans scoring at least ``min_score`` come first: the model has seen the gazetteer's evidence
  and the context, so its decision outranks a bare string match. A span that equals a lexicon candidate
  takes that entry's normalized value and lexicon type (``entity``; ``source: tagger+gazetteer:...``);
* value spans of the kinds in ``value_slots`` that overlap nothing taken are added (``source:
  values:<kind>``), so 二十六度 is a slot although no training data tags temperatures. The default lists the
  kinds no training set annotates (temperature, percentage). Dates, times, durations and numbers are
  annotated, so there the tagger, which has learned which mentions are a request's parameters (CrossWOZ
  tags 明天 only when it is an Inform value), decides; the extractor still normalizes what it keeps;
* with ``gazetteer_fill``, resolved gazetteer matches that overlap nothing taken are added last.

A temporal slot's extent is what the time parser can read: a tagger span of a date or time type that does
not parse as a whole but holds exactly one parsed time expression is cut to it (明天北京天气 -> 明天), and
resolved gazetteer matches inside the characters it gave back are added (北京).

Every tagger span whose type names a date or time, or that equals a value span, gets a normalized ``value``
against ``Query.reference_time`` (default: now); a time inside a longer parsed expression takes the
expression's value (早上八点 in 明天早上八点 -> 2026-12-02T08:00:00), a whole day keeps its own date.
``slot_candidates`` keeps every gazetteer match, every tagger span (any score) and every value span,
overlaps included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from models.lexicon.live import LiveGazetteer
from models.slots.inference import SlotTagger, TaggedSpan
from pipeline import values as value_parser
from pipeline.errors import ConfigError
from pipeline.schema import Granularity, PipelineResult, Sentence, SlotMatch
from pipeline.stages.runtime_checks import load_checkpoint, resolve_runtime
from pipeline.stages.slots import BoundaryPolicy, GazetteerSlotTagger

TEMPORAL_TYPE = re.compile(r"date|time|Date|Time|日期|时间")


def _overlaps(a: SlotMatch, taken: Sequence[SlotMatch]) -> bool:
    return any(a.start < b.end and b.start < a.end for b in taken)


class FusedSlotTagger:
    reads: ClassVar[frozenset[str]] = frozenset({"sentences"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences.slots"})

    def __init__(self, checkpoint: str, domains: Mapping[str, str] | None = None, extra_dirs: Sequence[str] = (),
                 cache_dir: str | None = None, boundary_granularity: Granularity = "coarse",
                 boundary_policy: BoundaryPolicy = "drop", min_score: float = 0.5, gazetteer_fill: bool = False,
                 values: bool = True, value_slots: Sequence[str] = ("temperature", "percentage"),
                 precision: str = "auto-gpu", device: str = "cpu", batch_chars: int = 4096,
                 backend: str = "torch", onnx_cache_dir: str = "~/.cache/duihua") -> None:
        if not 0 <= min_score < 1:
            raise ConfigError(f"slots.min_score: expected a probability in [0, 1), got {min_score}")
        self.gazetteer = GazetteerSlotTagger(domains, extra_dirs, cache_dir, boundary_granularity, boundary_policy)
        precision = resolve_runtime(backend, precision, device)
        folder = Path(checkpoint).resolve()
        self.model = load_checkpoint(SlotTagger.from_pretrained, "slots.checkpoint", folder,
                                     ", or use slots=gazetteer", backend=backend, cache_dir=str(onnx_cache_dir),
                                     precision=precision, device=device, batch_chars=batch_chars)
        unknown = sorted(set(value_slots) - set(value_parser.KINDS))
        if unknown:
            raise ConfigError(f"slots.value_slots: unknown kind(s) {unknown}; kinds: {list(value_parser.KINDS)}")
        self.min_score, self.gazetteer_fill, self.values = min_score, gazetteer_fill, values
        self.value_slots = frozenset(value_slots)

    def live_lexicons(self) -> list[LiveGazetteer]:
        """The tagger reads lexicons only through the gazetteer's tags, so a reload changes its input at once."""
        return self.gazetteer.live_lexicons()

    def check_lexicons(self, lexicons: Sequence[str] | None) -> frozenset[str] | None:
        """``GazetteerSlotTagger.check_lexicons``: the server refuses unknown domains before queueing."""
        return self.gazetteer.check_lexicons(lexicons)

    def _learned(self, sentence: Sentence, span: TaggedSpan, value_spans: Sequence[value_parser.ValueSpan],
                 reference: datetime) -> SlotMatch:
        surface = sentence.text[span.start:span.end]
        entry = next((m for m in sentence.slots if (m.start, m.end) == (span.start, span.end)), None) or next(
            (m for m in sentence.slot_candidates if (m.start, m.end) == (span.start, span.end)), None)
        value = entry.value if entry is not None else surface
        exact = next((v for v in value_spans if (v.start, v.end) == (span.start, span.end)), None)
        if exact is not None:
            value = exact.value
        elif self.values and TEMPORAL_TYPE.search(span.label):
            value = value_parser.resolve(surface, reference)
            # 早上八点 tagged apart from the 明天 before it: the whole expression says which day
            around = next((v for v in value_spans if v.kind == "datetime" and v.start <= span.start
                           and span.end <= v.end), None)
            if around is not None and not (len(value) == 10 and value[4] == "-"):
                value = around.value
        return SlotMatch(slot=span.label, entity=entry.slot if entry else None, score=span.score, surface=surface,
                         value=value, start=span.start, end=span.end, domain=entry.domain if entry else "",
                         lexicon=entry.lexicon if entry else "",
                         source=f"tagger+{entry.source}" if entry else "tagger",
                         priority=entry.priority if entry else 0)

    @staticmethod
    def _trim_temporal(span: TaggedSpan, value_spans: Sequence[value_parser.ValueSpan]
                       ) -> tuple[TaggedSpan, list[tuple[int, int]]]:
        """``span`` cut to the one time expression inside it (see the module docstring), and what it gave back."""
        if not TEMPORAL_TYPE.search(span.label):
            return span, []
        inside = [v for v in value_spans if v.kind in ("datetime", "duration") and span.start <= v.start
                  and v.end <= span.end]
        if len(inside) != 1 or (inside[0].start, inside[0].end) == (span.start, span.end):
            return span, []
        v = inside[0]
        released = [r for r in ((span.start, v.start), (v.end, span.end)) if r[0] < r[1]]
        return TaggedSpan(v.start, v.end, span.label, span.score), released

    def merge(self, sentence: Sentence, spans: Sequence[TaggedSpan], reference: datetime) -> Sentence:
        """The resolution policy of the module docstring, over a sentence the gazetteer has tagged."""
        value_spans = value_parser.extract(sentence.text, reference) if self.values and sentence.text else []
        released: list[tuple[int, int]] = []
        if self.values:
            trimmed = [self._trim_temporal(s, value_spans) for s in spans]
            spans = [s for s, _ in trimmed]
            released = [r for _, rs in trimmed for r in rs]
        learned = [self._learned(sentence, s, value_spans, reference) for s in spans]
        found = [SlotMatch(slot=v.kind, surface=sentence.text[v.start:v.end], value=v.value, start=v.start,
                           end=v.end, domain="", lexicon="", source=f"values:{v.kind}") for v in value_spans]
        taken = [m for m in learned if m.score is not None and m.score >= self.min_score]
        alone = [m for m in found if m.slot in self.value_slots]
        freed = [m for m in sentence.slots if any(a <= m.start and m.end <= b for a, b in released)]
        for extra in [*alone, *freed, *(sentence.slots if self.gazetteer_fill else [])]:
            if not _overlaps(extra, taken):
                taken.append(extra)
        return sentence.model_copy(update={
            "slots": sorted(taken, key=lambda m: (m.start, m.end)),
            "slot_candidates": [*sentence.slot_candidates, *learned, *found],
        })

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        docs = self.gazetteer.process(docs)
        sentences = [s for d in docs for s in d.sentences]
        spans = iter(self.model.predict([s.text for s in sentences], [s.char_slots for s in sentences])
                     if sentences else [])
        out = []
        for doc in docs:
            reference = doc.query.reference_time or datetime.now()
            updated = [self.merge(s, next(spans), reference) for s in doc.sentences]
            out.append(doc.model_copy(update={"sentences": updated}))
        return out
