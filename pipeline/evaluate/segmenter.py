"""``duihua eval segment --data FILE --granularity fine|coarse``: SIGHAN-bakeoff word segmentation scores.

FILE is SIGHAN gold format: one sentence per line, words separated by whitespace; the segmenter sees the
sentence with all whitespace removed. Scores follow the bakeoff scorer: word spans (character offsets) of the
prediction vs the gold, precision / recall / F1, and OOV recall, the recall of gold words absent from the
training vocabulary (``--vocab``; by default the official PKU word list for ``fine`` and the MSR list for
``coarse`` from ``../shared/data/cws/vocab``). Speed is characters per second of the segmenter stage alone.
P, R, F1 and OOV recall are reported in percent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from models.segmenter.scoring import score
from pipeline.errors import InputError
from pipeline.pipeline import Pipeline
from pipeline.report import print_report
from pipeline.schema import PipelineResult, Query

DEFAULT_VOCAB = {"fine": "cws/vocab/pku_training_words.utf8", "coarse": "cws/vocab/msr_training_words.utf8"}


def read_gold(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    gold = [line.split() for line in lines if line.strip()]
    if not gold:
        raise InputError(f"{path}: no sentences (expected one sentence per line, words separated by spaces)")
    return gold


def evaluate(data: Path, overrides: Sequence[str], granularity: str = "fine", vocab_file: str | None = None) -> int:
    gold = read_gold(data)
    if vocab_file and not Path(vocab_file).is_file():  # a named list that is not there is a mistake, not "no list"
        raise InputError(f"vocab file not found: {vocab_file}")
    # gold lines are scored whole, however long: the documents are built here, not through Pipeline.batch
    pipe = Pipeline.from_config(overrides=["splitter=whole", "slots=none", "intent=none", "reply=none", *overrides])
    if "segmenter" not in pipe.stage_names:
        raise InputError("segmenter=none: nothing to evaluate")
    vocab_path = Path(vocab_file) if vocab_file else Path(pipe.cfg.paths.data) / DEFAULT_VOCAB[granularity]
    vocab = set(vocab_path.read_text(encoding="utf-8").split()) if vocab_path.is_file() else None
    segmenter = pipe.stage("segmenter")
    queries = [Query(text="".join(words), granularities=[granularity]) for words in gold]
    docs = pipe.stage("splitter").process([PipelineResult(query=q) for q in queries])
    pred: list[list[str]] = []
    elapsed = 0.0
    batch = 512  # documents per call: a neural segmenter sorts a big batch by length and pads little
    for i in tqdm(range(0, len(docs), batch), desc=f"eval segment ({granularity})", unit="batch", disable=None):
        t0 = time.perf_counter()
        out = segmenter.process(docs[i : i + batch])
        elapsed += time.perf_counter() - t0
        pred += [[t.text for s in d.sentences for t in s.tokens[granularity]] for d in out]
    chars = sum(len(q.text) for q in queries)
    metrics = {**score(gold, pred, vocab), "chars_per_s": round(chars / elapsed) if elapsed else None}
    rows = [(k, v) for k, v in metrics.items()]
    print_report(("metric", "value"), rows, {
        "stage": "segment", "granularity": granularity, "sentences": len(gold),
        "vocab": str(vocab_path) if vocab else None, **metrics})
    return 0
