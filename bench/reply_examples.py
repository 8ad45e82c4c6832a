"""Ten exchanges of the default reply stage, drawn with a fixed seed, not picked by hand (README, Replies).

Five task requests from the SMP2017 ``develop`` file (not the held-out test) and five chat queries from the
reply dev pairs (``outputs/reply/dev/lccc_valid.tsv``, written by ``duihua train reply``), each through the
whole default pipeline at a fixed reference time.

Usage: ``python bench/reply_examples.py [--seed 7]``; prints a Markdown table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from pipeline import Pipeline, Query
from pipeline.config import load_config

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "2026-12-02T09:30"


def draw(seed: int, per_kind: int) -> list[tuple[str, str]]:
    data = Path(str(load_config("pipeline").paths.data))
    rows = [json.loads(line) for line in (data / "nlu/smp2017/develop.jsonl").open(encoding="utf-8")]
    tasks = [r["query"] for r in rows if r["label"] != "chat"]
    chat = [line.split("\t")[0].replace(" ", "") for line in
            (ROOT / "outputs/reply/dev/lccc_valid.tsv").read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    return [("task", q) for q in rng.sample(tasks, per_kind)] + [("chat", q) for q in rng.sample(chat, per_kind)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-kind", type=int, default=5)
    args = ap.parse_args()
    pipe = Pipeline.from_config()
    rows = []
    for kind, text in draw(args.seed, args.per_kind):
        result = pipe(Query(text=text, reference_time=REFERENCE))
        labels = "; ".join(s.intent.label for s in result.sentences if s.intent)
        rows.append({"kind": kind, "query": text, "intent": labels, "reply": result.reply.text,
                     "source": result.reply.source})
    print("| query | intent | reply | source |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['query']} | {r['intent']} | {r['reply']} | {r['source']} |")
    print(json.dumps({"seed": args.seed, "exchanges": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
