"""``reply=rank``: sample-and-rank chat replies. Candidates from the generator and from retrieval, reranked.

Per query: ``samples`` sampled replies (one batch, a different seed per sample), the beam-search reply
(``beam`` beams; 0 leaves it out) and the ``retrieved`` best BM25 hits' stored responses. Each is scored by the
response-selection model (``checkpoints/reply_ranker``, ``duihua train reply-ranker``) plus the configured
``weights`` (``models/reply/ranking.py``), and the best one that passes the ``safety`` net (blocklist,
length, repetition: ``models/reply/safety.py``) is the reply; when none passes, ``fallback``. ``Reply.score``
is the winner's score and ``Reply.source`` says where it came from (generative or retrieval).

It implements ``answer(docs, texts)`` like the generative and retrieval repliers, so ``reply=hybrid`` can use
it as its ``chat`` part. The generator keeps its session history (its ``history_turns``) and is given the
winning reply as the turn it said. Both models load on first use, as the generator alone does
(``reply_chat.py``): building the stage only checks both checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from models.reply.ranking import Candidate, RankWeights, choose, dedupe
from models.reply.safety import SafetyNet
from models.reply.selection_config import SelectionCheckpoint
from pipeline.errors import ConfigError
from pipeline.schema import PipelineResult, Reply
from pipeline.stages.reply_chat import GenerativeReplier, RetrievalReplier, _answer_whole_queries
from pipeline.stages.runtime_checks import LoadOnce, checkpoint_errors, load_checkpoint, resolve_runtime

if TYPE_CHECKING:  # torch and transformers (torch backend) or ONNX Runtime; loaded on first use
    from models.reply.selection import ResponseSelector
    from models.reply.selection_onnx import OnnxResponseSelector


def _checked(kind: str, build: type, values: Mapping[str, Any] | None) -> Any:  # noqa: ANN401 - build's type
    try:
        return build(**dict(values or {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"reply.{kind}: {exc}") from exc


class RankReplier:
    reads: ClassVar[frozenset[str]] = frozenset({"query"})
    writes: ClassVar[frozenset[str]] = frozenset({"reply"})
    source = "rank"

    def __init__(self, generator: GenerativeReplier, retrieval: RetrievalReplier, checkpoint: str,
                 fallback: str, samples: int = 4, beam: int = 0, retrieved: int = 5,
                 weights: Mapping[str, Any] | None = None, safety: Mapping[str, Any] | None = None,
                 backend: str = "torch", cache_dir: str = "~/.cache/duihua") -> None:
        if not isinstance(generator, GenerativeReplier):
            raise ConfigError("reply.generator must build a GenerativeReplier")
        if not isinstance(retrieval, RetrievalReplier):
            raise ConfigError("reply.retrieval must build a RetrievalReplier")
        if min(samples, beam, retrieved) < 0 or samples + beam + retrieved == 0:
            raise ConfigError(f"reply: samples, beam and retrieved must be >= 0 and not all 0, got "
                              f"{samples}, {beam}, {retrieved}")
        if beam == 1:
            raise ConfigError("reply.beam: a beam candidate needs >= 2 beams (0 leaves it out)")
        self.generator, self.retrieval = generator, retrieval
        self.samples, self.beam, self.retrieved = samples, beam, retrieved
        self.weights: RankWeights = _checked("weights", RankWeights, weights)
        self.safety: SafetyNet = _checked("safety", SafetyNet, safety)
        self.fallback = fallback
        resolve_runtime(backend, "fp32", "cpu")   # the backend name; the selection model runs fp32 on CPU
        self.backend, self.cache_dir = backend, str(cache_dir)
        self.folder = Path(checkpoint).resolve()
        with checkpoint_errors("reply.checkpoint", self.folder):
            SelectionCheckpoint.read_config(self.folder)   # there now; the model loads on first use
        self._selector: LoadOnce[ResponseSelector | OnnxResponseSelector] = LoadOnce(self._load)

    @property
    def selector(self) -> ResponseSelector | OnnxResponseSelector:
        """The selection model, loaded by the first caller (the others wait for it) and kept."""
        return self._selector.get()

    def _load(self) -> ResponseSelector | OnnxResponseSelector:
        if self.backend == "torch":
            from models.reply.selection import ResponseSelector

            return load_checkpoint(ResponseSelector.from_pretrained, "reply.checkpoint", self.folder)
        from models.reply.selection_onnx import OnnxResponseSelector  # never imports transformers

        return load_checkpoint(OnnxResponseSelector.from_pretrained, "reply.checkpoint", self.folder,
                               backend=self.backend, cache_dir=self.cache_dir)

    @property
    def loaded(self) -> bool:
        """Whether the selection model is loaded (it is on first use)."""
        return self._selector.done

    def candidates(self, contexts: Sequence[Sequence[str]], queries: Sequence[str]) -> list[list[Candidate]]:
        """Every query's candidates (beam, samples, hits; duplicates and empty texts dropped), each with its
        selection score."""
        return self.score(queries, [dedupe(pool) for pool in self.gather(contexts, queries)])

    def gather(self, contexts: Sequence[Sequence[str]], queries: Sequence[str]) -> list[list[Candidate]]:
        """Every query's raw candidates, in the order beam, samples, hits (not scored, not deduplicated)."""
        pools: list[list[Candidate]] = [[] for _ in queries]
        generator, size = self.generator.generator if self.beam or self.samples else None, self.generator.batch_size
        if self.beam:
            beam = replace(self.generator.decoding, strategy="beam", num_beams=self.beam)
            for pool, r in zip(pools, generator.generate(contexts, beam, size), strict=True):
                pool.append(Candidate(r.text, "beam", 0, logprob=r.score))
        if self.samples:
            drawn = generator.sample(contexts, self.generator.decoding, self.samples, size)
            for pool, replies in zip(pools, drawn, strict=True):
                pool += [Candidate(r.text, "sample", k, logprob=r.score) for k, r in enumerate(replies)]
        if self.retrieved:
            for pool, query in zip(pools, queries, strict=True):
                hits = self.retrieval.index.search_k(query, self.retrieved)
                pool += [Candidate(h.response, "retrieval", k, bm25=h.score / hits[0].score)
                         for k, h in enumerate(hits)]
        return pools

    def score(self, queries: Sequence[str], pools: list[list[Candidate]]) -> list[list[Candidate]]:
        """``pools`` with each candidate's selection score set (one batch of encodes for all of them)."""
        if any(pools):
            scores = self.selector.scores(queries, [[c.text for c in pool] for pool in pools])
            for pool, row in zip(pools, scores, strict=True):
                for c, s in zip(pool, row, strict=True):
                    c.selection = s
        return pools

    def pick(self, pool: Sequence[Candidate]) -> Reply:
        """The best candidate that passes the safety net, or the fallback line."""
        won = choose(pool, self.weights, self.safety)
        if won is None:
            return Reply(text=self.fallback, source="fallback")
        best, score = won
        return Reply(text=best.text, source=best.source, score=round(score, 4))

    def answer(self, docs: Sequence[PipelineResult], texts: Sequence[str]) -> list[Reply]:
        history = self.generator.history
        contexts = [history.context(d.query.session_id, t) for d, t in zip(docs, texts, strict=True)]
        replies = [self.pick(pool) for pool in self.candidates(contexts, texts)]
        for doc, text, reply in zip(docs, texts, replies, strict=True):
            history.record(doc.query.session_id, text, reply.text)
        return replies

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        return _answer_whole_queries(self, docs)
