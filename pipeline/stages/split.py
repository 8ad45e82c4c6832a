"""Rule-based sentence splitters: fast fallbacks and benchmark anchors for the model-based splitter."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import ClassVar

from pipeline.schema import PipelineResult, Sentence


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class PunctSentenceSplitter:
    """Split after sentence-final punctuation (and line breaks), keeping the punctuation with its sentence.

    Runs of terminators (``？！``, ``……``) stay together. Whitespace around sentences is trimmed; spans point
    into the original text. Unpunctuated ASR text comes out as one sentence — that is the model's job.
    """

    reads: ClassVar[frozenset[str]] = frozenset({"query"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences"})

    def __init__(self, terminators: str = "。！？!?；;…\n") -> None:
        self.terminators = frozenset(terminators)

    def split(self, text: str) -> list[Sentence]:
        sentences: list[Sentence] = []
        start, i, n = 0, 0, len(text)
        while i < n:
            if text[i] in self.terminators:
                while i + 1 < n and text[i + 1] in self.terminators:
                    i += 1
                sentences.extend(self._make(text, start, i + 1))
                start = i + 1
            i += 1
        sentences.extend(self._make(text, start, n))
        return sentences

    @staticmethod
    def _make(text: str, start: int, end: int) -> list[Sentence]:
        start, end = _strip_span(text, start, end)
        # a fragment of punctuation, separators and control characters alone carries no request
        if not any(unicodedata.category(ch)[0] not in "PZC" for ch in text[start:end]):
            return []
        return [Sentence(text=text[start:end], start=start, end=end)]

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        return [d.model_copy(update={"sentences": self.split(d.query.text)}) for d in docs]


class WholeTextSplitter:
    """Treat the whole (trimmed) input as one sentence; for inputs known to hold a single request."""

    reads: ClassVar[frozenset[str]] = frozenset({"query"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences"})

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        out = []
        for d in docs:
            start, end = _strip_span(d.query.text, 0, len(d.query.text))
            sents = [Sentence(text=d.query.text[start:end], start=start, end=end)] if end > start else []
            out.append(d.model_copy(update={"sentences": sents}))
        return out
