"""Template replies: grounded answers for task requests, filled with resolved slot values.

A template fires for a sentence when its ``trigger`` holds:
  * ``intent`` — an intent prediction exists and matches the template's domain (and intent, if given), and
    every slot the template names was resolved;
  * ``slots`` — the named slots alone were resolved (for unambiguous combinations such as singer + song),
    so the baseline pipeline answers something useful before any intent model exists.
The most specific firing template (most slots) wins. Sentences with no firing template contribute nothing;
if no sentence fires, the neutral ``fallback`` is returned.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from pipeline.errors import ConfigError
from pipeline.schema import PipelineResult, Reply, Sentence


class ReplyTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str
    intent: str | None = None
    slots: list[str] = []
    text: str
    trigger: Literal["intent", "slots"] = "intent"

    @model_validator(mode="after")
    def _placeholders_are_slots(self) -> ReplyTemplate:
        names = {f for _, f, _, _ in string.Formatter().parse(self.text) if f}
        if not names <= set(self.slots):
            raise ValueError(f"text uses {sorted(names - set(self.slots))} not listed in slots")
        if self.trigger == "slots" and not self.slots:
            raise ValueError("a template triggered by slots must name at least one slot")
        return self


class TemplateReplier:
    reads: ClassVar[frozenset[str]] = frozenset({"sentences"})
    writes: ClassVar[frozenset[str]] = frozenset({"reply"})

    def __init__(self, templates: Sequence[dict], fallback: str, joiner: str = "；") -> None:
        try:
            self.templates = [ReplyTemplate.model_validate(t) for t in templates]
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"reply.templates: {first['msg']} (at {first['loc']})") from exc
        self.fallback = fallback
        self.joiner = joiner

    def _fires(self, t: ReplyTemplate, sent: Sentence, values: dict[str, str]) -> bool:
        if any(s not in values for s in t.slots):
            return False
        if t.trigger == "slots":
            return True
        pred = sent.intent
        return pred is not None and pred.domain == t.domain and (t.intent is None or t.intent == pred.intent)

    def reply_sentence(self, sent: Sentence) -> tuple[str, str] | None:
        values: dict[str, str] = {}
        for m in sent.slots:  # first resolved value of each slot type, and of each lexicon type (entity)
            values.setdefault(m.slot, m.value)
            if m.entity:
                values.setdefault(m.entity, m.value)
        firing = [t for t in self.templates if self._fires(t, sent, values)]
        if not firing:
            return None
        best = max(firing, key=lambda t: (len(t.slots), t.trigger == "intent"))
        return best.text.format(**{s: values[s] for s in best.slots}), best.domain

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        out = []
        for doc in docs:
            if not doc.sentences:
                out.append(doc.model_copy(update={"reply": None}))
                continue
            parts = [r for r in (self.reply_sentence(s) for s in doc.sentences) if r is not None]
            if parts:
                domains = {d for _, d in parts}
                reply = Reply(text=self.joiner.join(t for t, _ in parts), source="template",
                              domain=parts[0][1] if len(domains) == 1 else None)
            else:
                reply = Reply(text=self.fallback, source="fallback")
            out.append(doc.model_copy(update={"reply": reply}))
        return out
