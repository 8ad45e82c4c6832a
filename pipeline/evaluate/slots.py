"""``duihua eval slots``: how well the gazetteer finds annotated slot values.

Data: SMP2019-style records ``{"text": ..., "slots": {name: surface}, "domain": ...}`` as a JSON array (``.json``)
or one object per line (``.jsonl``). Gold spans are located by string search in the text (first occurrence;
SMP2019 slot values are substrings of the text). The gazetteer's slot taxonomy differs from the annotation's,
so scoring is span-level and type-agnostic:

* precision: resolved slots whose span exactly equals a gold span / resolved slots
* recall: gold spans exactly matched by a resolved slot / gold spans
* candidate recall: gold spans present among all candidates (what resolution could at best keep)

Every gold slot counts, including those no lexicon can hold; the per-name table shows where lexicons help
(song, dishName, name ...) and where they cannot (datetime, content).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from pipeline.errors import InputError
from pipeline.report import print_report
from pipeline.runtime import Pipeline


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
    gold_by_name: Counter[str] = Counter()
    hit_by_name: Counter[str] = Counter()
    cand_by_name: Counter[str] = Counter()
    n_pred = n_pred_correct = 0
    for i in tqdm(range(0, len(records), batch_size), desc="eval slots", unit="batch", disable=None):
        chunk = records[i : i + batch_size]
        for rec, result in zip(chunk, pipe.batch([r["text"] for r in chunk]), strict=True):
            resolved, candidates = set(), set()
            for sent in result.sentences:
                resolved |= {(sent.start + m.start, sent.start + m.end) for m in sent.slots}
                candidates |= {(sent.start + m.start, sent.start + m.end) for m in sent.slot_candidates}
            gold = gold_spans(rec)
            gold_set = {(a, b) for _, a, b in gold}
            n_pred += len(resolved)
            n_pred_correct += len(resolved & gold_set)
            for name, a, b in gold:
                gold_by_name[name] += 1
                hit_by_name[name] += (a, b) in resolved
                cand_by_name[name] += (a, b) in candidates
    n_gold = sum(gold_by_name.values())
    precision = n_pred_correct / n_pred if n_pred else 0.0
    recall = sum(hit_by_name.values()) / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rows = [(name, gold_by_name[name], round(hit_by_name[name] / gold_by_name[name], 3),
             round(cand_by_name[name] / gold_by_name[name], 3)) for name, _ in gold_by_name.most_common(15)]
    metrics = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
               "candidate_recall": round(sum(cand_by_name.values()) / n_gold, 4) if n_gold else 0.0,
               "gold_spans": n_gold, "predicted": n_pred, "records": len(records)}
    return metrics, rows


def evaluate(data: Path, overrides: Sequence[str]) -> int:
    if data.suffix not in (".json", ".jsonl"):
        raise InputError(f"{data}: expected .json (array) or .jsonl SMP2019-style records")
    records = read_records(data)
    pipe = Pipeline.from_config(overrides=["intent=none", "reply=none", *overrides])
    metrics, rows = score(pipe, records)
    print_report(("gold slot", "count", "recall", "candidate recall"), rows, {"stage": "slots", **metrics})
    return 0
