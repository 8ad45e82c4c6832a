"""Reply generation: the pre-trained prefix-LM generator vs BM25 retrieval vs a plain seq2seq from scratch.

All systems answer the same held-out pairs, in one run: every reply of the LCCC multi-turn ``valid``
dialogues, single-turn (the turn before it is the query), as ``duihua eval reply`` scores the dev TSV.

  generator       checkpoints/reply: BERT initialised from the pre-trained encoder, target LM + source MLM
  seq2seq         the same architecture, data and schedule from random weights, target LM only:
                  ``duihua train reply model.init=scratch objectives.mlm_weight=0 output_dir=... work_dir=...``
  retrieval       BM25 over the queries of the training pairs (``reply=retrieval``), answering the stored
                  response; also over the subtitle pairs the generator saw (``+subtitles``)

Each generator is decoded with the shipped decoding (nucleus sampling, ``--seeds`` seeds: mean ± std), other
sampling settings, greedy and beam search.
  rank            ``reply=rank`` as shipped (``conf/reply/rank.yaml``): generated samples (+ beam) and BM25 hits
                  reranked by the response-selection model (``checkpoints/reply_ranker``), and its parts: the
                  generator's candidates only (4 samples and a beam of 4, ``reply.retrieved=0``), retrieval's
                  only (``reply.samples=0 reply.beam=0``) and both; with the selection model's recall@1 of 10
                  on dev

Latency: wall time per reply at batch 1 over ``--latency-queries`` dev queries, for the shipped decoding as
it ends naturally, and forced to exactly 20 characters, and for the rank replier (the target: P99 <= 100 ms).

Usage: ``python bench/reply.py [--scratch DIR] [--latency-queries N] [--rank-only]``; prints a table, then one
JSON line. ``--rank-only`` scores the rank replier, its parts, the shipped generator and retrieval (no scratch
seq2seq, no decoding sweep).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from models.reply.data import dev_pairs, load_source
from models.reply.decoding import DecodingConfig
from models.reply.inference import ReplyGenerator
from models.reply.metrics import reply_scores
from models.reply.retrieval import BM25Index
from models.reply.selection_train import recall_at_1
from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.schema import PipelineResult, Query
from pipeline.stages.reply_rank import RankReplier

ROOT = Path(__file__).resolve().parents[1]
SCRATCH_COMMAND = ("duihua train reply model.init=scratch objectives.mlm_weight=0 "
                   "output_dir=outputs/reply-scratch/model work_dir=outputs/reply-scratch/work "
                   "dev_dir=outputs/reply-scratch/dev")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def decode_all(generator: ReplyGenerator, queries: list[str], cfg: DecodingConfig) -> list[str]:
    return [r.text for r in generator.generate([[q] for q in queries], cfg)]


def latency(generator: ReplyGenerator, queries: list[str], cfg: DecodingConfig) -> dict[str, float]:
    generator.generate([[queries[0]]], cfg)  # warm-up
    times, lengths = [], []
    for q in queries:
        t0 = time.perf_counter()
        (reply,) = generator.generate([[q]], cfg)
        times.append(1000 * (time.perf_counter() - t0))
        lengths.append(len(reply.text))
    return {"p50_ms": round(statistics.median(times), 1), "p99_ms": round(percentile(times, 99), 1),
            "mean_chars": round(statistics.mean(lengths), 1)}


def rank_replier(overrides: list[str]) -> RankReplier:
    stage = build_stage("reply", load_config("pipeline", ["reply=rank", *overrides]).reply)
    assert isinstance(stage, RankReplier)
    return stage


def rank_answers(replier: RankReplier, queries: list[str], batch_size: int = 32) -> list[str]:
    """Single-turn replies, as ``duihua eval reply`` asks for them."""
    out: list[str] = []
    for i in range(0, len(queries), batch_size):
        chunk = queries[i : i + batch_size]
        out += [r.text for r in replier.answer([PipelineResult(query=Query(text=q)) for q in chunk], chunk)]
    return out


def rank_latency(replier: RankReplier, queries: list[str]) -> dict[str, float]:
    rank_answers(replier, queries[:1])  # warm-up: loads both models
    times = []
    for q in queries:
        t0 = time.perf_counter()
        replier.answer([PipelineResult(query=Query(text=q))], [q])
        times.append(1000 * (time.perf_counter() - t0))
    return {"p50_ms": round(statistics.median(times), 1), "p99_ms": round(percentile(times, 99), 1)}


def rank_rows(dev: list, lat_queries: list[str], summary: dict) -> list[tuple]:
    """The rank replier as shipped and its parts, in the same run as the other systems."""
    queries, refs = [p.query for p in dev], [p.response for p in dev]
    shipped = rank_replier([])
    generated = ["reply.samples=4", "reply.beam=4"]
    parts = {"rank (shipped)": shipped,
             "rank, generator candidates only": rank_replier([*generated, "reply.retrieved=0"]),
             "rank, retrieval candidates only": rank_replier(["reply.samples=0", "reply.beam=0"]),
             "rank, both": rank_replier(generated)}
    rows = []
    for name, replier in parts.items():
        scores = reply_scores(rank_answers(replier, queries), refs)
        label = f"{replier.samples} samples, beam {replier.beam}, {replier.retrieved} hits"
        rows.append((name, label, scores["bleu1"], scores["bleu2"], scores["distinct1"], scores["distinct2"], "–"))
        if replier is shipped:
            summary.update({"bleu2_rank": scores["bleu2"], "distinct2_rank": scores["distinct2"]})
    summary["ranker_recall_at_1_of_10"] = round(recall_at_1(shipped.selector, [p for p in dev if p.query]), 4)
    lat = rank_latency(shipped, lat_queries)
    summary.update({"p50_ms_rank": lat["p50_ms"], "p99_ms_rank": lat["p99_ms"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints/reply"))
    parser.add_argument("--scratch", default=str(ROOT / "outputs/reply-scratch/model"),
                        help=f"the plain seq2seq; train it with: {SCRATCH_COMMAND}")
    parser.add_argument("--latency-queries", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3, help="sampling seeds per sampled decoding (mean ± std)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rank-only", action="store_true",
                        help="the rank replier, its parts, the shipped generator and retrieval only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config("pipeline")
    data_dir = Path(cfg.paths.data)
    dev = dev_pairs(data_dir, max_turns=1)
    queries, refs = [p.query for p in dev], [p.response for p in dev]
    shipped = DecodingConfig(**{k: v for k, v in cfg.decoding.items()})
    seeds = [shipped.seed + k for k in range(args.seeds)]
    decodings = {"sample (shipped)": shipped,
                 "sample T 0.8, p 0.9, min 2": replace(shipped, temperature=0.8, top_p=0.9, min_new_tokens=2),
                 "sample T 1.0, p 0.95, min 8": replace(shipped, temperature=1.0, top_p=0.95, min_new_tokens=8),
                 "sample T 1.0, p 1.0, min 8": replace(shipped, temperature=1.0, top_p=1.0, min_new_tokens=8),
                 "greedy": replace(shipped, strategy="greedy"),
                 "greedy, min 2": replace(shipped, strategy="greedy", min_new_tokens=2),
                 "beam 4": replace(shipped, strategy="beam", num_beams=4)}

    rows, summary = [], {"dev_pairs": len(dev), "seeds": len(seeds)}
    systems = {"generator": args.checkpoint, "seq2seq (scratch)": args.scratch}
    if args.rank_only:
        systems = {"generator": args.checkpoint}
        decodings = {"sample (shipped)": shipped}
    generators = {}
    for name, folder in systems.items():
        if not Path(folder, "reply.json").is_file():
            raise SystemExit(f"{name}: no checkpoint in {folder}" +
                             (f"; train it with: {SCRATCH_COMMAND}" if "scratch" in name else ""))
        generators[name] = gen = ReplyGenerator.from_pretrained(folder)
        ppl = gen.perplexity([([q], r) for q, r in zip(queries, refs, strict=True)])
        key = "generator" if name == "generator" else "seq2seq"
        summary[f"ppl_{key}"] = round(ppl, 2)
        for dec_name, dec in decodings.items():
            runs = [reply_scores(decode_all(gen, queries, replace(dec, seed=s)), refs)
                    for s in (seeds if dec.strategy == "sample" else seeds[:1])]  # greedy/beam ignore the seed
            mean = {m: statistics.mean(r[m] for r in runs) for m in runs[0]}
            std = {m: statistics.stdev(r[m] for r in runs) if len(runs) > 1 else 0.0 for m in runs[0]}
            rows.append((name, dec_name, *(f"{mean[m]:.4f} ± {std[m]:.4f}" if len(runs) > 1 else f"{mean[m]:.4f}"
                                            for m in ("bleu1", "bleu2", "distinct1", "distinct2")), round(ppl, 1)))
            if dec is shipped:
                summary.update({f"bleu2_{key}": round(mean["bleu2"], 4), f"bleu2_{key}_std": round(std["bleu2"], 4),
                                f"distinct2_{key}": round(mean["distinct2"], 4)})

    sources = list(load_config("pipeline", ["reply=retrieval"]).reply.sources)  # the shipped retrieval option
    for name, srcs in (("retrieval", sources), ("retrieval +subtitles", [*sources, "subtitles"]))[
            : 1 if args.rank_only else 2]:
        dev_keys = {(p.query, p.response) for p in dev}
        pairs = [p for s in srcs for p in load_source(data_dir, s, 1, 40)
                 if p.query and (p.query, p.response) not in dev_keys]
        index = BM25Index([p.query for p in pairs], [p.response for p in pairs])
        t0 = time.perf_counter()
        hits = [index.search(q) for q in queries]
        ms = 1000 * (time.perf_counter() - t0) / len(queries)
        scores = reply_scores([h.response if h else "" for h in hits], refs)
        rows.append((name, f"BM25, {len(pairs):,} pairs, {ms:.1f} ms/query", scores["bleu1"], scores["bleu2"],
                     scores["distinct1"], scores["distinct2"], "–"))
        if name == "retrieval":
            summary.update({"bleu2_retrieval": scores["bleu2"], "distinct2_retrieval": scores["distinct2"]})

    lat_queries = queries[: args.latency_queries]
    rows += rank_rows(dev, lat_queries, summary)

    print("| system | decoding | BLEU-1 | BLEU-2 | distinct-1 | distinct-2 | ppl |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")

    forced = replace(shipped, min_new_tokens=20, max_new_tokens=20)
    print("\n| replier | replies | P50 ms | P99 ms | mean chars |")
    print("|---|---|---|---|---|")
    for label, dec in (("shipped decoding", shipped), ("exactly 20 characters", forced),
                       ("greedy, exactly 20 characters", replace(forced, strategy="greedy")))[
            : 1 if args.rank_only else 3]:
        lat = latency(generators["generator"], lat_queries, dec)
        print(f"| generator | {label} | {lat['p50_ms']} | {lat['p99_ms']} | {lat['mean_chars']} |")
        if dec is shipped:
            summary.update({"p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"]})
        elif dec is forced:
            summary.update({"p50_ms_20chars": lat["p50_ms"], "p99_ms_20chars": lat["p99_ms"]})
    print(f"| rank (shipped) | its reply | {summary['p50_ms_rank']} | {summary['p99_ms_rank']} | – |")
    summary["threads"] = args.threads
    print(json.dumps(summary, ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    main()
