"""``duihua eval split --data FILE``: sentence-boundary scores on unpunctuated text.

FILE is JSONL, one record per line: ``{"sentences": ["…", "…"]}``. Each sentence loses all punctuation
(Unicode category P*) and whitespace; empty ones are dropped; the rest are concatenated into the input. A
boundary is the offset after a sentence's last character (the final end is not a boundary). Scores: boundary
precision, recall and F1 over the file, and ``exact``, the fraction of records whose predicted boundaries are
all right and complete. All are fractions in [0, 1]; 0/0 counts as 0 (a splitter that never splits has
precision 0, not 1).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from models.common.jsonl import read_jsonl
from models.splitter.scoring import gold_boundaries, score
from models.splitter.synth import strip_punct
from pipeline.errors import InputError
from pipeline.pipeline import Pipeline
from pipeline.report import print_report
from pipeline.schema import PipelineResult, Query


def read_records(path: Path) -> list[list[str]]:
    records = []
    for where, rec in read_jsonl(path, InputError):
        sents = rec.get("sentences") if isinstance(rec, dict) else None
        if not isinstance(sents, list) or not all(isinstance(s, str) for s in sents):
            raise InputError(f'{where}: expected {{"sentences": ["...", ...]}}')
        cleaned = [c for c in map(strip_punct, sents) if c]
        if cleaned:
            records.append(cleaned)
    if not records:
        raise InputError(f"{path}: no records with text")
    return records


def evaluate(data: Path, overrides: Sequence[str]) -> int:
    records = read_records(data)
    pipe = Pipeline.from_config(overrides=["segmenter=none", "slots=none", "intent=none", "reply=none",
                                           *overrides])
    splitter = pipe.stage("splitter")
    texts = ["".join(r) for r in records]
    t0 = time.perf_counter()
    docs = splitter.process([PipelineResult(query=Query(text=t)) for t in texts])
    elapsed = time.perf_counter() - t0
    pred = [{s.end for s in d.sentences if s.end < len(t)} for d, t in zip(docs, texts, strict=True)]
    metrics = score([gold_boundaries(r) for r in records], pred)
    metrics["chars_per_s"] = round(sum(map(len, texts)) / elapsed) if elapsed else None
    print_report(("metric", "value"), list(metrics.items()),
                 {"stage": "split", "records": len(records), **metrics})
    return 0
