"""The contract every stage honours.

A stage is built once from config (``hydra.utils.instantiate``), then called with *batches* of documents so a
server can micro-batch. It never mutates its input: it returns updated copies. It declares, as data, which
document fields it needs (``reads``) and fills (``writes``); the composer checks the order before anything runs
(spaCy's requires/assigns). Field names: ``query``, ``sentences``, ``sentences.tokens``, ``sentences.slots``,
``sentences.intent``, ``reply``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from pipeline.schema import PipelineResult

if TYPE_CHECKING:
    from models.lexicon.live import LiveGazetteer


@runtime_checkable
class Stage(Protocol):
    reads: ClassVar[frozenset[str]]
    writes: ClassVar[frozenset[str]]

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        """Return one updated document per input document, in order."""
        ...


@runtime_checkable
class ReloadableStage(Stage, Protocol):
    def live_lexicons(self) -> Sequence[LiveGazetteer]:
        """The lexicons this stage reads and a hot reload refreshes (``Pipeline.prepare_reload`` rebuilds them
        all, then swaps all or none; calls in flight keep the old ones)."""
        ...


@runtime_checkable
class ChecksLexicons(Protocol):
    """A stage that can say up front whether a query's ``lexicons`` choice is one it serves.

    Why: a refused query makes its whole micro-batch rerun request by request, so the server asks the stage
    that owns the check before queueing; the stage raises the same ``InputError`` it would raise in a batch.
    """

    def check_lexicons(self, lexicons: Sequence[str] | None) -> object:
        ...
