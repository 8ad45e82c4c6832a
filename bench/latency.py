"""Latency and throughput of the whole pipeline, per runtime, with eager fp32 torch as the denominator.

One run, on the same real dev queries for every runtime (SMP2017 ``develop`` + the SMP2019 dev split, 1,149
typed requests; ``--queries`` caps them):

* **NLU** = split + segment (both granularities) + slots + intent (``reply=none``); **full** = the default
  pipeline with ``reply=hybrid`` (templates for filled task requests, the generator for chat/unknown);
* batch 1: every query alone, P50/P95/P99 of the wall time of ``Pipeline.__call__``, and per stage from
  ``PipelineResult.timings_ms``. Runtimes take turns query by query, so the machine's load drifts alike for
  all of them and the ratios stay honest on a shared machine;
* batched: ``Pipeline.batch`` over all queries (``runtime.batch_size``, 32), queries per second.

Runtimes: ``eager fp32`` (``runtime=torch runtime.precision=fp32``), ``torch`` as configured when its
``auto`` precision differs from fp32 on this machine, ``onnx`` and ``onnx-int8``. ``speedup_batch1`` in the
final JSON line is eager fp32 NLU P50 ÷ the shipped runtime's (``conf/pipeline.yaml``), at batch 1.

On a machine shared with other jobs, ``--threads 1`` keeps every runtime off the spin-waiting that
oversubscribed intra-op thread pools fall into (2 threads there were 8x slower than 1 for eager torch).

Usage: ``flock /tmp/duihua-timing.lock python bench/latency.py [--queries N] [--threads N] [--no-full]
[overrides...]``;
prints the tables, then one JSON line.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np
import torch
from tqdm import tqdm

from models.common.precision import resolve_precision
from models.intent.data import flatten, load_splits
from pipeline import Pipeline
from pipeline.config import load_config
from pipeline.report import format_table, print_report

NLU_STAGES = ("splitter", "segmenter", "slots", "intent")


def percentiles(values: list[float]) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return round(float(p50), 2), round(float(p95), 2), round(float(p99), 2)


def runtimes(overrides: list[str]) -> dict[str, list[str]]:
    out = {"eager fp32": ["runtime=torch", "runtime.precision=fp32"]}
    if resolve_precision(str(load_config("pipeline", ["runtime=torch", *overrides]).runtime.precision)) != "fp32":
        out["torch (auto precision)"] = ["runtime=torch"]
    out["onnx"] = ["runtime=onnx"]
    out["onnx-int8"] = ["runtime=onnx-int8"]
    return out


def batch1(pipes: dict[str, Pipeline], queries: list[str], desc: str
           ) -> tuple[dict[str, list[float]], dict[str, dict[str, list[float]]]]:
    total: dict[str, list[float]] = defaultdict(list)
    stages: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for pipe in pipes.values():   # warm-up: first-call allocations, ONNX Runtime's arena, caches
        for q in queries[:20]:
            pipe(q)
    for q in tqdm(queries, desc=desc, unit="query", disable=None):
        for name, pipe in pipes.items():
            t0 = time.perf_counter()
            result = pipe(q)
            total[name].append((time.perf_counter() - t0) * 1000)
            for stage, ms in result.timings_ms.items():
                stages[name][stage].append(ms)
    return total, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=0, help="cap on dev queries (0: all 1,149)")
    parser.add_argument("--no-full", action="store_true", help="NLU only (skip the pipeline with replies)")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads for torch and ONNX Runtime (0: torch's default, one per core)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.threads:   # before any pipeline is built: ONNX Runtime sessions take torch's thread count
        torch.set_num_threads(args.threads)
    cfg = load_config("pipeline", args.overrides)
    _, dev = load_splits(cfg.paths.data, 20.0)
    queries = [x.text for x in flatten(dev)][: args.queries or None]
    shipped = str(cfg.runtime.backend)
    variants = runtimes(args.overrides)
    nlu = {n: Pipeline.from_config([*o, "reply=none", *args.overrides]) for n, o in variants.items()}
    nlu_total, nlu_stages = batch1(nlu, queries, "NLU batch 1")
    qps = {}
    for name, pipe in nlu.items():
        t0 = time.perf_counter()
        pipe.batch(queries)
        qps[name] = len(queries) / (time.perf_counter() - t0)
    full_total: dict[str, list[float]] = {}
    full_stages: dict[str, dict[str, list[float]]] = {}
    if not args.no_full:
        full = {n: Pipeline.from_config([*o, *args.overrides]) for n, o in variants.items()}
        full_total, full_stages = batch1(full, queries, "full batch 1")

    eager_p50 = statistics.median(nlu_total["eager fp32"])
    rows, per_runtime = [], {}
    for name in variants:
        n50, n95, n99 = percentiles(nlu_total[name])
        f50, f95, f99 = percentiles(full_total[name]) if full_total else (None, None, None)
        speedup = round(eager_p50 / n50, 2)
        rows.append((name, n50, n95, n99, f50 or "–", f95 or "–", f99 or "–", round(qps[name], 1),
                     f"{speedup:.2f}x", f"{qps[name] / qps['eager fp32']:.2f}x"))
        per_runtime[name] = {"nlu_p50_ms": n50, "nlu_p95_ms": n95, "nlu_p99_ms": n99, "full_p50_ms": f50,
                             "full_p95_ms": f95, "full_p99_ms": f99, "throughput_qps": round(qps[name], 1),
                             "speedup_batch1": speedup}
    print(f"{len(queries)} dev queries; {torch.get_num_threads()} intra-op threads; batch 1 in ms; "
          f"batched = Pipeline.batch, runtime.batch_size={cfg.runtime.batch_size}; shipped runtime: {shipped}\n")
    print(format_table(("runtime", "NLU P50", "NLU P95", "NLU P99", "full P50", "full P95", "full P99",
                        "NLU batched q/s", "speedup b1 (P50)", "speedup batched"), rows))
    stage_rows = []
    for name in variants:
        for stage in [*NLU_STAGES, "reply"]:
            values = (full_stages.get(name, {}) if stage == "reply" else nlu_stages[name]).get(stage)
            if values:
                p50, p95, p99 = percentiles(values)
                stage_rows.append((name, stage, p50, p95, p99, round(float(np.mean(values)), 2)))
    print("\nper stage at batch 1 (ms; reply from the full pipeline)\n")
    print(format_table(("runtime", "stage", "P50", "P95", "P99", "mean"), stage_rows))
    print()
    key = {"torch": "torch (auto precision)" if "torch (auto precision)" in variants else "eager fp32"}.get(
        shipped, shipped)
    ship = per_runtime[key]
    print_report(("target", "measured", "goal"), [
        ("NLU P99 ms (shipped)", ship["nlu_p99_ms"], "<= 25"),
        ("full P99 ms (shipped)", ship["full_p99_ms"], "<= 150"),
        ("speedup batch 1 vs eager fp32", ship["speedup_batch1"], ">= 5")],
        {"shipped_runtime": shipped, "queries": len(queries), "threads": torch.get_num_threads(),
         **{k: ship[k] for k in ("nlu_p50_ms", "nlu_p99_ms", "full_p99_ms", "speedup_batch1", "throughput_qps")},
         "runtimes": per_runtime})


if __name__ == "__main__":
    main()
