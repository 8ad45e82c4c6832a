"""Sentence splitting of unpunctuated text: ``splitter=punct`` vs the teachers, their ensemble and the student.

All systems split the same dev records in the same run (``duihua eval split`` scoring, fractions in [0, 1]):

* requests — 1–4 held-out SMP requests joined (SMP2017 ``develop.jsonl`` + 15 % of SMP2019 by text);
* dialogue — every held-out CrossWOZ turn with two or more sentences (cut at 。！？);
* mixed    — the training mix of requests, dialogue turns, chat utterances and news sentences.

The dev files are the ones ``duihua train splitter[-distill]`` writes (``outputs/splitter/dev``); they are
rebuilt from ``../shared/data`` with the training config when missing. Speed is characters per second over
the requests set, batched (the stage's way of running), median of ``--repeats`` passes; the ratios (student
F1 ÷ ensemble F1, student speed ÷ ensemble speed) are what to quote, since the machines are shared and noisy.
The student also runs under every runtime (bf16 autocast, ONNX fp32, ONNX int8).

    python bench/split.py [--student checkpoints/splitter] [--teachers outputs/splitter/teachers] [--repeats 3]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from models.splitter.inference import Splitter, SplitterEnsemble
from models.splitter.scoring import gold_boundaries, score
from models.splitter.spans import punct_cuts
from models.splitter.train import dev_sets, load_groups, write_dev_sets
from pipeline.config import ROOT, load_config
from pipeline.evaluate.split import read_records
from pipeline.report import print_report

Cuts = Callable[[list[str]], list[list[int]]]
SETS = ("requests", "dialogue", "mixed")


def load_dev(folder: Path) -> dict[str, list[list[str]]]:
    if not all((folder / f"{name}.jsonl").is_file() for name in SETS):
        from omegaconf import OmegaConf

        data = OmegaConf.to_container(load_config("train/splitter", []), resolve=True)["data"]
        logging.warning("dev files missing in %s: rebuilding them from %s", folder, data["dir"])
        write_dev_sets(dev_sets(load_groups(data)[1], data), folder)
    return {name: read_records(folder / f"{name}.jsonl") for name in SETS}


def evaluate(cuts: Cuts, records: Sequence[list[str]]) -> dict[str, float]:
    texts = ["".join(r) for r in records]
    pred = [{c for c in cs if c < len(t)} for cs, t in zip(cuts(texts), texts, strict=True)]
    return score([gold_boundaries(r) for r in records], pred)


def speed(cuts: Cuts, texts: list[str], repeats: int) -> float:
    cuts(texts[:50])  # warm-up (ONNX session, allocator)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cuts(texts)
        rates.append(sum(map(len, texts)) / (time.perf_counter() - t0))
    return statistics.median(rates)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", type=Path, default=ROOT / "checkpoints" / "splitter")
    parser.add_argument("--teachers", type=Path, default=ROOT / "outputs" / "splitter" / "teachers")
    parser.add_argument("--dev-dir", type=Path, default=ROOT / "outputs" / "splitter" / "dev")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-runtimes", action="store_true", help="only torch fp32 for the student")
    args = parser.parse_args(argv)
    dev = load_dev(args.dev_dir)
    texts = ["".join(r) for r in dev["requests"]]

    systems: dict[str, Cuts] = {"punct (rules)": lambda ts: [punct_cuts(t) for t in ts]}
    teacher_dirs = sorted(p for p in args.teachers.glob("t*") if (p / "splitter.json").is_file())
    teachers = [Splitter.from_pretrained(p, precision="fp32") for p in teacher_dirs]
    for path, t in zip(teacher_dirs, teachers, strict=True):
        systems[f"teacher {path.name}"] = t.cuts
    if len(teachers) > 1:
        systems["ensemble"] = SplitterEnsemble(teachers).cuts
    student = Splitter.from_pretrained(args.student, precision="fp32")
    systems["student"] = student.cuts
    if not args.skip_runtimes:
        systems["student bf16"] = Splitter.from_pretrained(args.student, precision="auto").cuts
        with tempfile.TemporaryDirectory() as cache:
            for backend in ("onnx", "onnx-int8"):
                systems[f"student {backend}"] = Splitter.from_pretrained(args.student, backend=backend,
                                                                         cache_dir=cache).cuts

    rows, results = [], {}
    for name, cuts in systems.items():
        scores = {s: evaluate(cuts, dev[s]) for s in SETS}
        rate = speed(cuts, texts, args.repeats)
        results[name] = {**{s: scores[s]["f1"] for s in SETS}, "chars_per_s": round(rate)}
        rows.append((name, *(f"{scores[s]['precision']:.4f} / {scores[s]['recall']:.4f} / {scores[s]['f1']:.4f}"
                             for s in SETS), f"{scores['requests']['exact']:.4f}", f"{rate:,.0f}"))
    metrics: dict[str, object] = {"bench": "split", "systems": results,
                                  "records": {s: len(dev[s]) for s in SETS}}
    if "ensemble" in results:
        ens, stu = results["ensemble"], results["student"]
        metrics["student_vs_ensemble_f1"] = {s: round(stu[s] / ens[s], 4) if ens[s] else None for s in SETS}
        metrics["student_speedup_vs_ensemble"] = round(stu["chars_per_s"] / ens["chars_per_s"], 2)
    print_report(("system", *(f"{s} P / R / F1" for s in SETS), "requests exact", "chars/s"), rows, metrics)
    (ROOT / "outputs").mkdir(exist_ok=True)
    (ROOT / "outputs" / "bench_split.json").write_text(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
