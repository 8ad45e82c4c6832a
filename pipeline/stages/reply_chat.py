"""Chat replies: ``reply=generative`` (the prefix-LM generator) and ``reply=retrieval`` (BM25 over stored pairs).

Both answer a whole query, and both implement ``answer(docs, texts)``, which ``reply=hybrid`` calls for the
chat part of a query. The generator keeps the last turns of each ``session_id`` (the user's text and its own
reply, up to the model's ``max_turns``) as context, in a bounded LRU of sessions; requests without a session
are single-turn. Sampling is seeded per context, so the same conversation gets the same reply in any batch.

The generator is loaded on first use, not when the pipeline is built: its decoding is torch code (about 2 s
to import) and a default ``reply=hybrid`` run whose sentences all get template replies never needs it. Building
the stage still checks the checkpoint (its ``reply.json``), so a missing one is a config error at start-up;
the first chat reply after start pays the load (``duihua serve`` warms up on a template query), and a cache
that cannot be written is reported then.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from models.reply.config import DecodingConfig, read_limits
from models.reply.data import SOURCES, ChatDataError, load_sources, read_tsv
from models.reply.retrieval import BM25Index
from pipeline.errors import ConfigError
from pipeline.schema import PipelineResult, Reply
from pipeline.stages.runtime_checks import LoadOnce, checkpoint_errors, load_checkpoint, resolve_runtime

if TYPE_CHECKING:  # imports torch; the generator is loaded on first use
    from models.reply.inference import ReplyGenerator


def _decoding_config(decoding: Mapping[str, Any]) -> DecodingConfig:
    """``reply.decoding`` checked now, when the stage is built."""
    try:
        return DecodingConfig(**dict(decoding))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"reply.decoding: {exc}") from exc


class SessionHistory:
    """The last turns of each session (user text, reply, ...), at most ``max_sessions`` sessions (LRU)."""

    def __init__(self, max_turns: int, max_sessions: int) -> None:
        self.max_turns, self.max_sessions = max_turns, max_sessions
        self._turns: OrderedDict[str, deque[str]] = OrderedDict()
        self._lock = threading.Lock()  # the HTTP server calls stages from worker threads

    def context(self, session_id: str | None, text: str) -> list[str]:
        if session_id is None or self.max_turns <= 1:
            return [text]
        with self._lock:
            past = list(self._turns.get(session_id, ()))
        return [*past, text]

    def record(self, session_id: str | None, text: str, reply: str) -> None:
        if session_id is None or self.max_turns <= 1:
            return
        with self._lock:
            turns = self._turns.pop(session_id, None) or deque(maxlen=self.max_turns - 1)
            turns.extend([text, reply])
            self._turns[session_id] = turns
            while len(self._turns) > self.max_sessions:
                self._turns.popitem(last=False)


class GenerativeReplier:
    reads: ClassVar[frozenset[str]] = frozenset({"query"})
    writes: ClassVar[frozenset[str]] = frozenset({"reply"})
    source = "generative"

    def __init__(self, checkpoint: str, decoding: Mapping[str, Any], history_turns: int = 2,
                 max_sessions: int = 10000, batch_size: int = 32, backend: str = "torch",
                 cache_dir: str = "~/.cache/duihua") -> None:
        resolve_runtime(backend, "fp32", "cpu")   # the backend name; the cached decoder runs fp32 on CPU
        self.decoding = _decoding_config(decoding)
        folder = Path(checkpoint).resolve()
        with checkpoint_errors("reply.checkpoint", folder):
            read_limits(folder)   # the checkpoint is there now; the model loads on first use (module docstring)
        self._load_args = (folder, backend, str(cache_dir))
        self._generator: LoadOnce[ReplyGenerator] = LoadOnce(self._load)
        if history_turns < 0:
            raise ConfigError(f"reply.history_turns: expected >= 0, got {history_turns}")
        self.history = SessionHistory(history_turns + 1, max_sessions)
        self.batch_size = batch_size

    @property
    def generator(self) -> ReplyGenerator:
        """The generator, loaded by the first caller (the others wait for it) and kept."""
        return self._generator.get()

    @property
    def loaded(self) -> bool:
        """Whether the generator is loaded (it is on first use)."""
        return self._generator.done

    def _load(self) -> ReplyGenerator:
        from models.reply.inference import ReplyGenerator

        folder, backend, cache_dir = self._load_args
        return load_checkpoint(ReplyGenerator.from_pretrained, "reply.checkpoint", folder, backend=backend,
                               cache_dir=cache_dir)

    def generate(self, contexts: Sequence[Sequence[str]]) -> list[Reply]:
        return [Reply(text=r.text, source="generative", score=round(r.score, 4))
                for r in self.generator.generate(contexts, self.decoding, self.batch_size)]

    def answer(self, docs: Sequence[PipelineResult], texts: Sequence[str]) -> list[Reply]:
        contexts = [self.history.context(d.query.session_id, t) for d, t in zip(docs, texts, strict=True)]
        replies = self.generate(contexts)
        for doc, text, reply in zip(docs, texts, replies, strict=True):
            self.history.record(doc.query.session_id, text, reply.text)
        return replies

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        return _answer_whole_queries(self, docs)


class RetrievalReplier:
    """BM25 over the queries of stored pairs; answers the best match's response, ``fallback`` when nothing
    matches. Pairs come from the shared chat corpora (``sources``) and/or your own TSV ``files``; they are read
    when the stage is built and indexed on first use (``index``)."""

    reads: ClassVar[frozenset[str]] = frozenset({"query"})
    writes: ClassVar[frozenset[str]] = frozenset({"reply"})
    source = "retrieval"

    def __init__(self, fallback: str, data_dir: str = "", sources: Sequence[str] = (), files: Sequence[str] = (),
                 max_turns: int = 3, subtitle_max_chars: int = 40) -> None:
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown:
            raise ConfigError(f"reply.sources: unknown {unknown}; known: {list(SOURCES)}")
        try:
            pairs = load_sources(Path(data_dir), sources, max_turns, subtitle_max_chars)
            for file in files:
                pairs += read_tsv(file)
        except (ChatDataError, FileNotFoundError) as exc:
            raise ConfigError(f"reply: cannot read the retrieval pairs: {exc}") from exc
        pairs = [p for p in pairs if p.query]
        if not pairs:
            raise ConfigError("reply: no retrieval pairs (set reply.sources and/or reply.files)")
        # read (and checked) now; indexing takes about a second, which a query templates answer need not wait for
        self._index = LoadOnce(lambda: BM25Index([p.query for p in pairs], [p.response for p in pairs]))
        self.fallback = fallback

    @property
    def index(self) -> BM25Index:
        """The BM25 index, built by the first caller (the others wait for it) and kept."""
        return self._index.get()

    @property
    def indexed(self) -> bool:
        """Whether the index is built (it is on first use)."""
        return self._index.done

    def answer(self, docs: Sequence[PipelineResult], texts: Sequence[str]) -> list[Reply]:
        out = []
        for text in texts:
            hit = self.index.search(text)
            out.append(Reply(text=self.fallback, source="fallback") if hit is None else
                       Reply(text=hit.response, source="retrieval", score=round(hit.score, 4)))
        return out

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        return _answer_whole_queries(self, docs)


def _answer_whole_queries(replier: GenerativeReplier | RetrievalReplier, docs: Sequence[PipelineResult]
                          ) -> list[PipelineResult]:
    """The chat stage alone: one reply per non-empty query, none for an empty one."""
    todo = [d for d in docs if d.query.text.strip()]
    replies = iter(replier.answer(todo, [d.query.text for d in todo]) if todo else [])
    return [doc.model_copy(update={"reply": next(replies) if doc.query.text.strip() else None}) for doc in docs]
