"""``duihua eval reply --data FILE``: reply quality on ``query<TAB>response`` pairs.

FILE is a TSV with one pair per line (spaces between characters, as in LCCC, are stripped; blank lines are
skipped). Each query is answered single-turn by the configured chat replier: ``reply=rank`` or the chat part
of ``reply=hybrid`` (sample-and-rank: generated and retrieved candidates reranked by the response-selection
model), ``reply=generative`` / ``hybrid-generative`` (generation with the configured ``decoding``), or
``reply=retrieval`` / ``hybrid-retrieval`` (BM25). Reported, as fractions: character-level corpus
BLEU-1/BLEU-2 (smoothed) and distinct-1/distinct-2 over all replies; ``ppl``, the generator's per-character
perplexity of the reference responses (null for retrieval and rank, whose replies are not all the generator's).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from models.reply.data import ChatDataError, read_tsv
from models.reply.metrics import reply_scores
from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.errors import ConfigError, InputError
from pipeline.report import print_report
from pipeline.schema import PipelineResult, Query
from pipeline.stages.reply_chat import GenerativeReplier, RetrievalReplier
from pipeline.stages.reply_rank import RankReplier


def chat_replier(stage: object) -> GenerativeReplier | RetrievalReplier | RankReplier:
    """The part of the configured reply stage that answers chat."""
    replier = getattr(stage, "chat", stage)
    if not isinstance(replier, GenerativeReplier | RetrievalReplier | RankReplier):
        raise ConfigError(f"reply: {type(stage).__name__} cannot answer chat; use reply=hybrid (default), "
                          "hybrid-generative, hybrid-retrieval, rank, generative or retrieval")
    return replier


def evaluate(data: Path, overrides: Sequence[str], batch_size: int = 32) -> int:
    try:
        pairs = read_tsv(data)
    except ChatDataError as exc:
        raise InputError(str(exc)) from exc
    cfg = load_config("pipeline", overrides)
    if not cfg.get("reply"):
        raise ConfigError("reply=none: no reply stage is configured")
    replier = chat_replier(build_stage("reply", cfg.reply))
    t0 = time.perf_counter()
    replies: list[str] = []
    for i in tqdm(range(0, len(pairs), batch_size), desc="eval reply", unit="batch", disable=None):
        chunk = pairs[i : i + batch_size]
        if isinstance(replier, GenerativeReplier):
            replies += [r.text for r in replier.generate([[p.query] for p in chunk])]
        else:
            docs = [PipelineResult(query=Query(text=p.query)) for p in chunk]
            replies += [r.text for r in replier.answer(docs, [p.query for p in chunk])]
    elapsed = time.perf_counter() - t0
    metrics: dict[str, object] = dict(reply_scores(replies, [p.response for p in pairs]))
    ppl = None
    if isinstance(replier, GenerativeReplier):
        ppl = round(replier.generator.perplexity([([p.query], p.response) for p in pairs]), 2)
    metrics.update({"ppl": ppl, "pairs": len(pairs), "replier": replier.source,
                    "ms_per_reply": round(1000 * elapsed / len(pairs), 1)})
    if isinstance(replier, GenerativeReplier):
        metrics["decoding"] = replier.decoding.strategy
    print_report(("metric", "value"), [(k, "null" if v is None else v) for k, v in metrics.items()],
                 {"stage": "reply", **metrics})
    return 0
