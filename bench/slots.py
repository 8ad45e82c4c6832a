"""Gazetteer benchmark: automaton build time and matching throughput vs jieba on the same real text.

Text: People's Daily 1998 (``cws/pku1998/pd199801_seg.txt``, spaces removed) plus every SMP2017/SMP2019 query,
one sentence per call, until ``--chars`` characters (default 1,200,000, i.e. >= 1 MB). All shipped lexicons
are loaded (the default ``lexicons`` selection). Each timing is the median of ``--repeats`` runs; the machines
are shared and noisy, so compare the ratios.

    python bench/slots.py [--chars N] [--repeats R] [hydra overrides ...]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jieba

from models.lexicon.gazetteer_load import load_gazetteer
from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.report import print_report
from pipeline.schema import Sentence

jieba.setLogLevel(30)  # keep jieba's dictionary-loading chatter out of the report


def load_text(data: Path, limit: int) -> list[str]:
    lines: list[str] = []
    for row in (data / "nlu/smp2017/train.jsonl").read_text(encoding="utf-8").splitlines():
        lines.append(json.loads(row)["query"])
    lines += [r["text"] for r in json.loads((data / "nlu/smp2019/train.json").read_text(encoding="utf-8"))]
    with (data / "cws/pku1998/pd199801_seg.txt").open(encoding="utf-8") as fh:
        for line in fh:
            if sum(map(len, lines)) >= limit:
                break
            text = line.replace(" ", "").strip()
            if text:
                lines.append(text)
    return lines


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=1_200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    cfg = load_config("pipeline", args.overrides)
    tagger = build_stage("slots", cfg.slots)
    dirs = tagger.selected_dirs()  # exactly what the stage loads (extra folders named by their manifests)
    lines = load_text(Path(cfg.paths.data), args.chars)
    n_chars = sum(map(len, lines))
    n_bytes = sum(len(s.encode("utf-8")) for s in lines)

    with tempfile.TemporaryDirectory() as cache:
        build_s = median_time(lambda: load_gazetteer(dirs, None), args.repeats)  # parse + build, no cache
        load_gazetteer(dirs, cache)
        cached_s = median_time(lambda: load_gazetteer(dirs, cache), args.repeats)
    gaz = load_gazetteer(dirs, None)

    n_matches = sum(len(gaz.find(s)) for s in lines)
    find_s = median_time(lambda: [gaz.find(s) for s in lines], args.repeats)

    sents = [Sentence(text=s, start=0, end=len(s)) for s in lines]
    tag_s = median_time(lambda: [tagger.tag(s, gaz, None) for s in sents], max(1, args.repeats - 1))

    tok = jieba.Tokenizer()
    tok.initialize()
    jieba_s = median_time(lambda: [tok.lcut(s) for s in lines], args.repeats)

    rate = {k: n_chars / v for k, v in {"find": find_s, "tag": tag_s, "jieba": jieba_s}.items()}
    rows = [
        ("automaton: all matches (Gazetteer.find)", round(find_s, 3), round(rate["find"]), 1.0),
        ("slots stage: matches + resolution + features", round(tag_s, 3), round(rate["tag"]),
         round(rate["tag"] / rate["find"], 3)),
        ("jieba.lcut (precise mode, HMM)", round(jieba_s, 3), round(rate["jieba"]),
         round(rate["jieba"] / rate["find"], 3)),
    ]
    print(f"text: {len(lines):,} sentences, {n_chars:,} chars, {n_bytes / 1e6:.2f} MB; "
          f"lexicons: {len(gaz.domains)} domains, {gaz.size:,} entries; matches: {n_matches:,}")
    print(f"automaton build (parse + build, median of {args.repeats}): {build_s:.3f} s; "
          f"cached load: {cached_s:.3f} s")
    print_report(("what", "median s", "chars/s", "vs automaton"), rows, {
        "bench": "slots",
        "text_chars": n_chars,
        "text_mb": round(n_bytes / 1e6, 3),
        "lexicon_entries": gaz.size,
        "domains": len(gaz.domains),
        "matches": n_matches,
        "build_s": round(build_s, 3),
        "cached_load_s": round(cached_s, 3),
        "match_chars_per_s": round(rate["find"]),
        "tagger_chars_per_s": round(rate["tag"]),
        "jieba_chars_per_s": round(rate["jieba"]),
        "match_vs_jieba": round(rate["find"] / rate["jieba"], 2),
    })


if __name__ == "__main__":
    main()
