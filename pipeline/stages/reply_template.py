"""Template replies: grounded answers for task requests, filled with resolved slot values.

A template fires for a sentence when its ``trigger`` holds:
  * ``intent`` — an intent prediction exists and matches the template's domain (and intent, if given), and
    every slot the template names was resolved;
  * ``slots`` — the named slots alone were resolved (for unambiguous combinations such as singer + song),
    so the baseline pipeline answers something useful before any intent model exists.
The most specific firing template wins: most slots, then one written for the exact intent over the domain's
default. A confident task sentence (an intent that is not ``unknown``) that lacks a slot its intent requires
(``asks``) gets that slot's question instead (请问您要去哪里？), so an under-specified request is answered by
asking, never by a guess. Sentences with no firing template contribute nothing; if no sentence fires, the
neutral ``fallback`` is returned.

Template names are slot types (the tagger's ``endLoc_city``, ``name``) or lexicon types (``SlotMatch.entity``:
``city``, ``singer``), or names of ``slot_names`` groups, which stand for the first of their types a sentence
has (``destination: [endLoc_poi, endLoc_city, …]``): the datasets name one role many ways, and a group keeps
the templates readable and independent of which slot stage runs. ``now`` and ``today`` are the query's
reference time. Values are the slots' normalized values (上海 -> 上海市); dates and times are written back in
words (2026-12-03 -> 12月3日).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from pipeline.errors import ConfigError
from pipeline.schema import PipelineResult, Reply, Sentence, SlotMatch

UNKNOWN = "unknown"
BUILT_INS = ("now", "today")
WEEKDAYS = "一二三四五六日"
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CLOCK = re.compile(r"T(\d{2}):(\d{2})")


def placeholders(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


class ReplyTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str
    intent: str | None = None
    slots: list[str] = []
    text: str
    trigger: Literal["intent", "slots"] = "intent"

    @model_validator(mode="after")
    def _placeholders_are_slots(self) -> ReplyTemplate:
        names = placeholders(self.text) - set(BUILT_INS)
        if not names <= set(self.slots):
            raise ValueError(f"text uses {sorted(names - set(self.slots))} not listed in slots")
        if self.trigger == "slots" and not self.slots:
            raise ValueError("a template triggered by slots must name at least one slot")
        return self


class SlotQuestion(BaseModel):
    """Asked when a confident sentence of ``domain`` (and ``intent``, if given) has no ``slot``."""

    model_config = ConfigDict(extra="forbid")

    domain: str
    intent: str | None = None
    slot: str
    text: str


def spoken_value(match: SlotMatch) -> str:
    """A slot's normalized value as a reply says it: an ISO day or point in time in words (12月3日, 12月3日8:00),
    a range or duration as the user said it (``…/…`` and ``P3D`` are not for reading aloud), else the value."""
    value = match.value
    day = _DAY.fullmatch(value[:10])
    if day is not None:
        clock = _CLOCK.fullmatch(value[10:16]) if len(value) > 10 else None
        if len(value) == 10 or (clock is not None and re.fullmatch(r"(:\d{2})?", value[16:])):
            words = f"{int(day[2])}月{int(day[3])}日"
            return f"{words}{int(clock[1])}:{clock[2]}" if clock else words
        return match.surface
    if "/" in value or re.fullmatch(r"P(T?\d.*)", value):
        return match.surface
    # a canonical name that only drops the end of what was said (北京南站 -> 北京南) reads as said
    return match.surface if match.surface.startswith(value) else value


def reference_words(reference: datetime) -> dict[str, str]:
    return {"now": f"{reference.hour}:{reference.minute:02d}",
            "today": f"{reference.month}月{reference.day}日星期{WEEKDAYS[reference.weekday()]}"}


def _matches(domain: str, intent: str | None, sent: Sentence) -> bool:
    pred = sent.intent
    return pred is not None and pred.domain == domain and (intent is None or intent == pred.intent)


def is_confident_task(sent: Sentence) -> bool:
    """An intent prediction the intent stage stood by (``unknown`` is what it says below its threshold)."""
    return sent.intent is not None and sent.intent.label != UNKNOWN


class TemplateReplier:
    reads: ClassVar[frozenset[str]] = frozenset({"sentences"})
    writes: ClassVar[frozenset[str]] = frozenset({"reply"})

    def __init__(self, templates: Sequence[dict], fallback: str, joiner: str = "；",
                 asks: Sequence[dict] = (), slot_names: Mapping[str, Sequence[str]] | None = None) -> None:
        try:
            self.templates = [ReplyTemplate.model_validate(t) for t in templates]
            self.asks = [SlotQuestion.model_validate(a) for a in asks]
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"reply.templates/asks: {first['msg']} (at {first['loc']})") from exc
        self.slot_names = {name: list(types) for name, types in (slot_names or {}).items()}
        for name, types in self.slot_names.items():
            if not types or not all(isinstance(t, str) for t in types):
                raise ConfigError(f"reply.slot_names.{name}: expected a list of slot types")
        for ask in self.asks:
            if placeholders(ask.text):
                raise ConfigError(f"reply.asks: a question has no values to fill: {ask.text!r}")
        self.fallback = fallback
        self.joiner = joiner

    def values(self, sent: Sentence, reference: datetime) -> dict[str, str]:
        """The words each template name stands for in ``sent``."""
        by_type: dict[str, SlotMatch] = {}
        for m in sent.slots:  # first resolved value of each slot type, and of each lexicon type (entity)
            by_type.setdefault(m.slot, m)
            if m.entity:
                by_type.setdefault(m.entity, m)
        values = {name: spoken_value(m) for name, m in by_type.items()}
        for name, types in self.slot_names.items():
            found = next((by_type[t] for t in types if t in by_type), None)
            if found is not None:
                values[name] = spoken_value(found)
        return {**reference_words(reference), **values}

    def _fires(self, t: ReplyTemplate, sent: Sentence, values: Mapping[str, str]) -> bool:
        if any(s not in values for s in t.slots):
            return False
        return t.trigger == "slots" or _matches(t.domain, t.intent, sent)

    def reply_sentence(self, sent: Sentence, reference: datetime | None = None) -> tuple[str, str] | None:
        """``(text, domain)`` of the sentence's grounded reply (or question), None when nothing fires."""
        values = self.values(sent, reference or datetime.now())
        if is_confident_task(sent):
            for ask in self.asks:
                if ask.slot not in values and _matches(ask.domain, ask.intent, sent):
                    return ask.text, ask.domain
        firing = [t for t in self.templates if self._fires(t, sent, values)]
        if not firing:
            return None
        best = max(firing, key=lambda t: (len(t.slots), t.intent is not None, t.trigger == "intent"))
        return best.text.format(**values), best.domain

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        out = []
        for doc in docs:
            if not doc.sentences:
                out.append(doc.model_copy(update={"reply": None}))
                continue
            reference = doc.query.reference_time
            parts = [r for r in (self.reply_sentence(s, reference) for s in doc.sentences) if r is not None]
            if parts:
                domains = {d for _, d in parts}
                reply = Reply(text=self.joiner.join(t for t, _ in parts), source="template",
                              domain=parts[0][1] if len(domains) == 1 else None)
            else:
                reply = Reply(text=self.fallback, source="fallback")
            out.append(doc.model_copy(update={"reply": reply}))
        return out
