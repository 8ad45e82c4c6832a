"""The data contract: every object that crosses a stage boundary is defined here.

Offsets are character offsets, end-exclusive. ``Sentence.start/end`` point into ``Query.text``; token and
slot offsets point into ``Sentence.text``, so ``sentence.text[tok.start:tok.end] == tok.text`` always holds.
Everything round-trips through JSON exactly: ``PipelineResult.model_validate_json(r.model_dump_json()) == r``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Granularity = Literal["fine", "coarse"]
GRANULARITIES: tuple[Granularity, ...] = ("coarse", "fine")
SESSION_ID_MAX_CHARS = 128  # an id names a session; longer ones are payload, kept per session in memory


def encoding_problem(text: str) -> str | None:
    """Why ``text`` cannot be written as UTF-8 (a lone surrogate), or None.

    Python strings may hold lone surrogates (``"\\ud800"`` in JSON, undecodable bytes in argv); every
    model, file and response downstream needs UTF-8, so such text is refused at the edge with its position.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"lone surrogate U+{ord(text[exc.start]):04X} at character {exc.start} is not valid "
                "Unicode text; send UTF-8")
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Query(_Model):
    """What the caller sent: raw (ASR) text plus optional per-request choices."""

    text: str
    session_id: str | None = Field(None, max_length=SESSION_ID_MAX_CHARS)
    lexicons: list[str] | None = Field(None, description="restrict slot tagging to these lexicon domains")
    granularities: list[Granularity] | None = Field(None, description="segmentations to produce")
    reference_time: datetime | None = Field(
        None, description="ISO 8601; what 明天 and 半小时后 are relative to (default: now, local time)")

    @field_validator("text", "session_id")
    @classmethod
    def _utf8(cls, value: str | None) -> str | None:
        problem = None if value is None else encoding_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class Token(_Model):
    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class SlotMatch(_Model):
    """One slot: a gazetteer match, a learned span or a normalized value (README, "Slots").

    ``slot`` is the type: the tagger's (the training data's, which carries the role: ``endLoc_city``), the
    gazetteer's (``singer``) or the value kind (``datetime``). ``entity`` is the lexicon type of the entry at
    this span, when one is there (``city``), so a consumer can read either. ``value`` is normalized (周董 ->
    周杰伦, 明天 -> 2026-12-02, 二十六度 -> 26); the surface where nothing normalizes it.
    """

    slot: str = Field(description="slot type, e.g. singer, endLoc_city, datetime")
    entity: str | None = Field(None, description="lexicon slot type of the entry at this span, e.g. city")
    score: float | None = Field(None, description="the tagger's confidence (learned spans only)")
    surface: str = Field(description="the text as it appears in the sentence")
    value: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    domain: str = Field(description="lexicon domain, e.g. music ('' when no lexicon entry is at this span)")
    lexicon: str = Field(description="entry file the match came from, e.g. singer.txt ('' when none)")
    source: str = Field(description="producer: gazetteer:music/singer, tagger, tagger+gazetteer:music/singer, "
                                    "values:datetime")
    priority: int = 0
    crosses_boundary: bool = Field(False, description="cuts through a coarse word (e.g. 十年 in 二十年代)")


class ScoredLabel(_Model):
    label: str
    score: float


class IntentPrediction(_Model):
    """``label`` is ``domain`` or ``domain/intent``; ``unknown`` (domain too) below the confidence threshold."""

    label: str
    domain: str
    intent: str | None = None
    score: float = Field(ge=0.0, le=1.0)
    top_k: list[ScoredLabel] = Field(default_factory=list)
    gates: list[float] | None = Field(None, description="fusion gate per character, when the model has one")


class Sentence(_Model):
    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    tokens: dict[Granularity, list[Token]] = Field(default_factory=dict)
    slots: list[SlotMatch] = Field(default_factory=list, description="resolved, non-overlapping")
    slot_candidates: list[SlotMatch] = Field(default_factory=list, description="every match, overlaps kept")
    char_slots: list[list[str]] = Field(
        default_factory=list,
        description="per character, the slot tags covering it: 'B-singer', 'I-song' (from every candidate)",
    )
    intent: IntentPrediction | None = None

    @model_validator(mode="after")
    def _check_offsets(self) -> Sentence:
        if self.end - self.start != len(self.text):
            raise ValueError(f"sentence span {self.start}:{self.end} does not fit text of length {len(self.text)}")
        return self


class Reply(_Model):
    text: str
    source: Literal["template", "retrieval", "generative", "fallback"]
    domain: str | None = None
    score: float | None = None


class PipelineResult(_Model):
    """The document that flows through the stages and is returned to the caller."""

    query: Query
    sentences: list[Sentence] = Field(default_factory=list)
    reply: Reply | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict, description="wall time per stage")
    stages: list[str] = Field(default_factory=list, description="stages that ran, in order")

    @classmethod
    def from_text(cls, text: str, **query: object) -> PipelineResult:
        return cls(query=Query(text=text, **query))
