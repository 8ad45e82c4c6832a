"""Sample-and-rank (``reply=rank``): which candidates and weights, chosen on dev; checked once on test.

One run gathers every candidate the grid can use for each held-out query, once: ``--samples`` sampled replies
(the shipped decoding, seeds ``seed + k``; the first n of them are exactly what ``reply.samples=n`` draws), the
beam-search reply (``--beam`` beams) and the ``--retrieved`` best BM25 hits, each scored by the
response-selection model. Every grid point (candidate counts × weights) then picks replies from those pools with
``models/reply/ranking.py``, safety net included, and is scored as ``duihua eval reply`` scores: character
BLEU-2 and distinct-2 over all replies. Cached pools go to ``outputs/reply_rank/`` (git-ignored).

The grid is searched on dev (the 617 replies of the LCCC multi-turn ``valid`` dialogues, single-turn): the
target is BLEU-2 above BM25 retrieval's top hit with distinct-2 >= 0.55, so the pick is the point with the best
BLEU-2 among those with distinct-2 >= ``--min-distinct2``. The multi-turn ``test`` dialogues (never used for any
choice) then score the picked point, plain retrieval and the shipped generator. A second sweep reranks deeper
BM25 pools alone (``--deep`` hits at most; no generator, so no generation cost at all). Latency is not part of
the grid: ``bench/reply.py`` times the shipped point at batch 1 (generator candidates cost 50-200 ms a reply on
one CPU thread, which is why the shipped point has none).

Usage: ``python bench/reply_rank.py [--threads 1] [--top 15]``; prints tables, then one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from models.reply.data import ChatPair, dialogue_pairs, unspace
from models.reply.metrics import reply_scores
from models.reply.ranking import Candidate, RankWeights, choose, dedupe
from models.reply.safety import SafetyNet
from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.stages.reply_rank import RankReplier
from pipeline.stages.runtime_checks import weights_mtime

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "outputs/reply_rank"
NO_NET = SafetyNet(max_chars=10**9, min_chars=0, max_char_run=10**9, max_ngram_count=10**9)  # plain systems


def split_pairs(data_dir: Path, split: str) -> list[ChatPair]:
    """Single-turn pairs of a multi-turn split (``valid`` is the generator's dev set, ``test`` is untouched)."""
    dialogues = json.loads((data_dir / "chat/lccc-toy/multiturn.json").read_text(encoding="utf-8"))[split]
    return [p for d in dialogues for p in dialogue_pairs([unspace(t) for t in d], 1, split) if p.query]


def gather(replier: RankReplier, pairs: list[ChatPair], name: str, batch_size: int = 32) -> list[list[Candidate]]:
    """Scored raw pools of every pair (cached per split, candidate counts and ranker weights' mtime)."""
    key = f"{name}-s{replier.samples}-b{replier.beam}-r{replier.retrieved}-t{replier.generator.decoding.temperature}"
    path = CACHE / f"{key}-{weights_mtime(replier.folder)}.json"
    if path.is_file():
        return [[Candidate(**c) for c in pool] for pool in json.loads(path.read_text(encoding="utf-8"))]
    pools: list[list[Candidate]] = []
    t0 = time.perf_counter()
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        queries = [p.query for p in chunk]
        pools += replier.score(queries, replier.gather([[q] for q in queries], queries))
    print(f"gathered {name}: {len(pairs)} queries in {time.perf_counter() - t0:.0f} s")
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([[asdict(c) for c in pool] for pool in pools], ensure_ascii=False), encoding="utf-8")
    return pools


def subset(pool: list[Candidate], samples: int, beam: bool, retrieved: int) -> list[Candidate]:
    keep = [c for c in pool if (c.kind == "beam" and beam) or (c.kind == "sample" and c.rank < samples)
            or (c.kind == "retrieval" and c.rank < retrieved)]
    return dedupe(keep)


def pick_all(pools: list[list[Candidate]], point: dict, safety: SafetyNet, fallback: str) -> list[str]:
    weights = RankWeights(selection=1.0, logprob=point["logprob"], bm25=point["bm25"],
                          bias={"retrieval": point["bias_retrieval"], "beam": point["bias_beam"]})
    out = []
    for pool in pools:
        won = choose(subset(pool, point["samples"], point["beam"], point["retrieved"]), weights, safety)
        out.append(won[0].text if won else fallback)
    return out


def grid(max_samples: int, max_retrieved: int) -> list[dict]:
    samples = sorted({0, 1, 2, 4, max_samples} - {s for s in (1, 2, 4) if s > max_samples})
    retrieved = sorted({0, 1, 3, 5, max_retrieved} - {r for r in (1, 3, 5) if r > max_retrieved})
    points = []
    for s, b, r, lp, bm, br, bb in itertools.product(samples, (False, True), retrieved, (0.0, 0.05, 0.1, 0.2),
                                                     (0.0, 0.1, 0.2), (-0.1, 0.0, 0.05, 0.1), (0.0, -0.05)):
        if not (s or b or r) or (r == 0 and (bm or br)) or (not b and bb) or (r and not (s or b) and (lp or bb)):
            continue
        points.append({"samples": s, "beam": b, "retrieved": r, "logprob": lp, "bm25": bm,
                       "bias_retrieval": br, "bias_beam": bb})
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--retrieved", type=int, default=10)
    parser.add_argument("--deep", type=int, default=50, help="hits of the retrieval-only sweep")
    parser.add_argument("--min-distinct2", type=float, default=0.55)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. reply.generator.decoding.temperature=0.8")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config("pipeline", ["reply=rank", f"reply.samples={args.samples}", f"reply.beam={args.beam}",
                                   f"reply.retrieved={args.retrieved}", *args.overrides])
    replier = build_stage("reply", cfg.reply)
    assert isinstance(replier, RankReplier)
    data_dir = Path(cfg.paths.data)
    safety, fallback = replier.safety, replier.fallback
    splits = {name: split_pairs(data_dir, split) for name, split in (("dev", "valid"), ("test", "test"))}
    pools = {name: gather(replier, pairs, name) for name, pairs in splits.items()}
    refs = {name: [p.response for p in pairs] for name, pairs in splits.items()}

    def scored(name: str, point: dict, net: SafetyNet = safety) -> dict[str, float]:
        return reply_scores(pick_all(pools[name], point, net, fallback), refs[name])

    base = {"samples": 0, "beam": False, "retrieved": 0, "logprob": 0.0, "bm25": 0.0, "bias_retrieval": 0.0,
            "bias_beam": 0.0}
    # the parts: what each source alone answers without reranking (the first sample is the shipped generator,
    # the first hit plain BM25 retrieval), then each reranked on its own and together
    parts = {"generator (first sample: reply=generative)": {**base, "samples": 1},
             "retrieval (first BM25 hit: reply=retrieval)": {**base, "retrieved": 1},
             f"generator only, reranked ({args.samples} samples + beam)": {**base, "samples": args.samples,
                                                                          "beam": True},
             f"retrieval only, reranked ({args.retrieved} hits)": {**base, "retrieved": args.retrieved},
             "both, reranked (all candidates, no weights)": {**base, "samples": args.samples, "beam": True,
                                                             "retrieved": args.retrieved}}
    plain = ("generator (", "retrieval (")   # as reply=generative / reply=retrieval answer: no safety net
    rows = [(name, scored("dev", p, NO_NET if name.startswith(plain) else safety),
             scored("test", p, NO_NET if name.startswith(plain) else safety)) for name, p in parts.items()]

    t0 = time.perf_counter()
    results = [(p, scored("dev", p)) for p in grid(args.samples, args.retrieved)]
    print(f"grid: {len(results)} points on dev in {time.perf_counter() - t0:.0f} s")
    ok = [(p, s) for p, s in results if s["distinct2"] >= args.min_distinct2]
    ok.sort(key=lambda ps: (-ps[1]["bleu2"], ps[0]["samples"] + ps[0]["beam"] * 4 + ps[0]["retrieved"]))
    print("\n| samples | beam | hits | logprob | bm25 | bias retrieval | bias beam | dev BLEU-2 | dev distinct-2 |"
          "\n|---|---|---|---|---|---|---|---|---|")
    for p, s in ok[: args.top]:
        print(f"| {p['samples']} | {p['beam']} | {p['retrieved']} | {p['logprob']} | {p['bm25']} | "
              f"{p['bias_retrieval']} | {p['bias_beam']} | {s['bleu2']:.4f} | {s['distinct2']:.4f} |")
    summary: dict = {"dev_pairs": len(splits["dev"]), "test_pairs": len(splits["test"]), "grid_points": len(results)}
    if ok:
        best = ok[0][0]
        rows.append((f"picked on dev: {best}", ok[0][1], scored("test", best)))
        summary["picked"] = best
    print("\n| system | dev BLEU-2 | dev distinct-2 | test BLEU-2 | test distinct-2 |\n|---|---|---|---|---|")
    for name, dev, test in rows:
        print(f"| {name} | {dev['bleu2']:.4f} | {dev['distinct2']:.4f} | {test['bleu2']:.4f} | "
              f"{test['distinct2']:.4f} |")
    summary["rows"] = {name: {"dev": dev, "test": test} for name, dev, test in rows}

    deep = build_stage("reply", load_config("pipeline", ["reply=rank", "reply.samples=0", "reply.beam=0",
                                                         f"reply.retrieved={args.deep}", *args.overrides]).reply)
    pools = {name: gather(deep, pairs, name) for name, pairs in splits.items()}   # what scored() reads from now
    print("\n| BM25 hits reranked (no generator) | bm25 weight | dev BLEU-2 | dev distinct-2 | test BLEU-2 | "
          "test distinct-2 |\n|---|---|---|---|---|---|")
    for hits in sorted({10, 20, 30, args.deep}):
        for bm25 in (0.0, 0.05, 0.1):
            point = {**base, "retrieved": hits, "bm25": bm25}
            dev, test = scored("dev", point), scored("test", point)
            print(f"| {hits} | {bm25} | {dev['bleu2']:.4f} | {dev['distinct2']:.4f} | {test['bleu2']:.4f} | "
                  f"{test['distinct2']:.4f} |")
            summary["rows"][f"retrieval only, {hits} hits, bm25 {bm25}"] = {"dev": dev, "test": test}
    summary["decoding"] = {k: v for k, v in asdict(replace(replier.generator.decoding)).items()}
    print(json.dumps(summary, ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    main()
