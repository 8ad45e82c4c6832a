"""``duihua eval slots``: how well the shipped slot stage (``slots=fused`` by default) finds annotated values.

Data: SMP2019-style records ``{"text": ..., "slots": {name: surface}, "domain": ...}`` as a JSON array (``.json``)
or one object per line (``.jsonl``). Gold spans are located by string search in the text (first occurrence;
SMP2019 slot values are substrings of the text). Slot taxonomies differ between datasets and lexicons, so
scoring is span-level and type-agnostic (``models/slots/scoring.py``, shared with training and the benches):

* precision: resolved slots whose span exactly equals a gold span / resolved slots
* recall: gold spans exactly matched by a resolved slot / gold spans
* candidate recall: gold spans present among all candidates (what resolution could at best keep)

Every gold slot counts; the per-name table shows recall by annotated name. ``slots=gazetteer`` scores the
lexicons alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from models.slots.scoring import recall_by_type, span_scores
from pipeline.errors import InputError
from pipeline.pipeline import Pipeline
from pipeline.report import print_report


def read_records(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    try:
        if path.suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON at line {exc.lineno} ({exc.msg})") from exc
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a JSON array of records or JSONL")
    for i, rec in enumerate(records):
        if not (isinstance(rec, dict) and isinstance(rec.get("text"), str) and isinstance(rec.get("slots", {}), dict)):
            raise InputError(f"{path}: record {i}: expected {{\"text\": str, \"slots\": {{name: surface}}}}")
    return records


def gold_spans(rec: dict) -> list[tuple[str, int, int]]:
    spans = []
    for name, surface in rec.get("slots", {}).items():
        values = surface if isinstance(surface, list) else [surface]
        for value in values:
            start = rec["text"].find(str(value)) if value else -1
            if start >= 0:
                spans.append((name, start, start + len(value)))
    return spans


def score(pipe: Pipeline, records: Sequence[dict], batch_size: int = 64) -> tuple[dict, list[tuple]]:
    """Span scores of the pipeline's resolved slots (``models.slots.scoring``), and per gold name: count,
    recall, and candidate recall (the gold span among any stage's candidates)."""
    gold_all: list[list[tuple[str, int, int]]] = []
    resolved_all: list[set[tuple[int, int]]] = []
    candidates_all: list[set[tuple[int, int]]] = []
    for i in tqdm(range(0, len(records), batch_size), desc="eval slots", unit="batch", disable=None):
        chunk = records[i : i + batch_size]
        for rec, result in zip(chunk, pipe.batch([r["text"] for r in chunk]), strict=True):
            resolved, candidates = set(), set()
            for sent in result.sentences:
                resolved |= {(sent.start + m.start, sent.start + m.end) for m in sent.slots}
                candidates |= {(sent.start + m.start, sent.start + m.end) for m in sent.slot_candidates}
            gold_all.append(gold_spans(rec))
            resolved_all.append(resolved)
            candidates_all.append(candidates)
    gold = [[(a, b, name) for name, a, b in g] for g in gold_all]
    metrics = span_scores(gold, resolved_all)
    by_type = recall_by_type(gold, resolved_all)
    cand = recall_by_type(gold, candidates_all)
    rows = [(name, n, r, cand[name][1]) for name, (n, r) in list(by_type.items())[:15]]
    n_gold = metrics["gold_spans"]
    metrics["candidate_recall"] = (round(sum(n * r for n, r in cand.values()) / n_gold, 4) if n_gold else 0.0)
    metrics["records"] = len(records)
    return metrics, rows


def evaluate(data: Path, overrides: Sequence[str]) -> int:
    if data.suffix not in (".json", ".jsonl"):
        raise InputError(f"{data}: expected .json (array) or .jsonl SMP2019-style records")
    records = read_records(data)
    pipe = Pipeline.from_config(overrides=["intent=none", "reply=none", *overrides])
    metrics, rows = score(pipe, records)
    print_report(("gold slot", "count", "recall", "candidate recall"), rows, {"stage": "slots", **metrics})
    return 0
