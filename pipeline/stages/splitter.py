"""Rule-based sentence splitters: fast fallbacks and benchmark anchors for the model-based splitter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from models.splitter.spans import TERMINATORS, punct_cuts, spans_from_cuts, strip_span
from pipeline.schema import PipelineResult, Sentence


class PunctSentenceSplitter:
    """Split after sentence-final punctuation (and line breaks), keeping the punctuation with its sentence.

    Runs of terminators (``？！``, ``……``) stay together. Whitespace around sentences is trimmed; spans point
    into the original text. Unpunctuated ASR text comes out as one sentence — that is the model's job.
    """

    reads: ClassVar[frozenset[str]] = frozenset({"query"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences"})

    def __init__(self, terminators: str = TERMINATORS) -> None:
        self.terminators = frozenset(terminators)

    def split(self, text: str) -> list[Sentence]:
        return [Sentence(text=text[a:b], start=a, end=b)
                for a, b in spans_from_cuts(text, punct_cuts(text, self.terminators))]

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        return [d.model_copy(update={"sentences": self.split(d.query.text)}) for d in docs]


class WholeTextSplitter:
    """Treat the whole (trimmed) input as one sentence; for inputs known to hold a single request."""

    reads: ClassVar[frozenset[str]] = frozenset({"query"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences"})

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        out = []
        for d in docs:
            start, end = strip_span(d.query.text, 0, len(d.query.text))
            sents = [Sentence(text=d.query.text[start:end], start=start, end=end)] if end > start else []
            out.append(d.model_copy(update={"sentences": sents}))
        return out
