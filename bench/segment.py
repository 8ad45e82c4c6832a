"""Segmentation: duihua (fine and coarse; torch fp32/bf16, ONNX fp32/int8) vs jieba, pkuseg and THULAC.

All systems segment the same texts in the same run:

* PKU fine dev   — held-out January 1998 documents, PKU standard (scored against duihua ``fine``)
* MSR coarse dev — the last 870 lines of the MSR slice, MSR standard (scored against duihua ``coarse``)
* PKU coarse dev — the same held-out documents in the derived MSR-like view (``coarse``)
* SXU test, Zhuxian test — other standards/domains, robustness only (duihua fine and coarse both reported)
* SMP2019 slot spans cut — dialogue text: the share of SMP2019 dev slot values (the intent/slot dev split)
  whose start or end the segmentation (duihua ``coarse``) does not cut at; lower is better

A checkpoint with wordhood features is scored on the dev sets as if they were test sets: the words only the
dev sentences hold are taken out of the word lists collected from their standard (the official lists hold no
test-only words), as ``duihua train segmenter`` scores it. Two more rows show what word lists change without
retraining: ``lists as shipped`` (the lists know every dev word, an upper bound) and ``+ gazetteer words``
(every ``lexicons/*/*.txt`` entry as a user word).

The peers have one standard each and are scored on every set as they are. F1 is the SIGHAN bakeoff word F1
in percent. Speed is characters per second over the PKU dev text: duihua batched (the stage's way of
running), the peers one sentence at a time (their APIs); median of ``--repeats`` passes, and the ratio to
pkuseg, since the machines are shared and noisy.

Peers are bench-only dependencies:

    pip install jieba thulac cython && pip install --no-build-isolation pkuseg
    python bench/segment.py [--checkpoint checkpoints/segmenter] [--repeats 3] [--skip-robustness]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from omegaconf import OmegaConf

from models.common.precision import resolve_precision
from models.intent.data import SMP2019_TRAIN, is_dev, read_smp2019
from models.segmenter.config import SegmenterCheckpoint
from models.segmenter.corpus import COARSE_RULES, load_views
from models.segmenter.inference import Segmenter
from models.segmenter.scoring import score, spans_cut
from models.segmenter.wordhood import Wordhood
from models.segmenter.wordhood_training import held_out_lists
from pipeline.config import load_config
from pipeline.evaluate.segmenter import read_gold
from pipeline.report import print_report

Cut = Callable[[list[str]], list[list[str]]]


def read_zx(path: Path) -> list[list[str]]:
    return [[tok.rsplit("_", 1)[0] for tok in line.split()] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def dev_sets(data: Path, robustness: bool, views: dict) -> dict[str, tuple[list[list[str]], str]]:
    """name -> (gold sentences, the duihua granularity that targets it; 'both' for robustness sets)."""
    sets = {"PKU fine dev": (views["pku_fine"][1], "fine"), "MSR coarse dev": (views["msr"][1], "coarse"),
            "PKU coarse dev": (views["pku_coarse"][1], "coarse")}
    if robustness:
        sets["SXU test"] = (read_gold(data / "cws/sxu/test.txt"), "both")
        sets["Zhuxian test"] = (read_zx(data / "cws/zx/test.zhuxian.wordpos"), "both")
    return sets


def slot_spans(data: Path, dev_percent: float) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """SMP2019 dev texts and the character spans of their slot values (first occurrence)."""
    texts, spans = [], []
    for ex in read_smp2019(data / SMP2019_TRAIN):
        if not is_dev(ex.text, dev_percent) or not ex.slots:
            continue
        found = [(i, i + len(v)) for v in map(str, ex.slots.values()) if v and (i := ex.text.find(v)) >= 0]
        if found:
            texts.append(ex.text)
            spans.append(found)
    return texts, spans


def held_out_wordhood(checkpoint: Path, data: Path, views: dict) -> Wordhood | None:
    """The checkpoint's word lists without the dev-only words (``train.held_out_lists``), or None when the
    checkpoint reads no wordhood features."""
    names = SegmenterCheckpoint.read_config(checkpoint)["head"].get("wordhood_sources") or []
    if not names:
        return None
    cfg = OmegaConf.to_container(load_config("train/segmenter", [f"data.dir={data}"]), resolve=True)
    train_words = {w for train, _ in views.values() for s in train for w in s}
    dev = {k: dev for k, (_, dev) in views.items()}
    return Wordhood(held_out_lists(cfg, Wordhood.load(checkpoint, names).sources, dev, train_words))


def duihua_cut(segmenter: Segmenter, granularity: str) -> Cut:
    return lambda texts: segmenter.words(texts, granularity)


def peers() -> dict[str, Cut]:
    out: dict[str, Cut] = {}
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    out["jieba"] = lambda texts: [tok.lcut(t) for t in texts]
    try:
        import pkuseg

        seg = pkuseg.pkuseg()
        out["pkuseg"] = lambda texts: [seg.cut(t) for t in texts]
    except ImportError:
        logging.warning("pkuseg not installed: pip install cython && pip install --no-build-isolation pkuseg")
    try:
        import thulac

        thu = thulac.thulac(seg_only=True)
        out["THULAC"] = lambda texts: [[w for w, _ in thu.cut(t)] for t in texts]  # fast_cut is broken upstream
    except ImportError:
        logging.warning("thulac not installed: pip install thulac")
    return out


def speed(cut: Cut, texts: list[str], repeats: int) -> float:
    chars = sum(map(len, texts))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cut(texts)
        times.append(time.perf_counter() - t0)
    return chars / statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="segmenter folder (default: checkpoints/segmenter)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-robustness", action="store_true", help="only the PKU and MSR dev sets")
    parser.add_argument("--limit", type=int, default=None, help="first N sentences of each set (quick checks)")
    parser.add_argument("--slot-dev-percent", type=float, default=20.0,
                        help="the SMP2019 dev split of the intent and slot trainers (data.dev_percent)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config("pipeline")
    data = Path(cfg.paths.data)
    checkpoint = Path(args.checkpoint or Path(cfg.paths.checkpoints) / "segmenter")
    shipped = resolve_precision("auto")
    views = load_views(data, list(COARSE_RULES))  # the shipped config uses every rule
    dev_wordhood = held_out_wordhood(checkpoint, data, views)
    systems: dict[str, tuple[Cut, Cut]] = {}  # name -> (fine-side cut, coarse-side cut)
    runtimes = [("torch", p) for p in dict.fromkeys(["fp32", shipped])] + [("onnx", "fp32"), ("onnx-int8", "fp32")]
    for backend, precision in runtimes:
        seg = Segmenter.from_pretrained(checkpoint, backend=backend, cache_dir=cfg.paths.cache, precision=precision)
        seg.wordhood = dev_wordhood or seg.wordhood
        name = f"duihua {precision}" if backend == "torch" else f"duihua {backend}"
        systems[name] = (duihua_cut(seg, "fine"), duihua_cut(seg, "coarse"))
    if dev_wordhood is not None:
        seg = Segmenter.from_pretrained(checkpoint, backend="onnx-int8", cache_dir=cfg.paths.cache)
        systems["duihua onnx-int8, lists as shipped"] = (duihua_cut(seg, "fine"), duihua_cut(seg, "coarse"))
        gazetteer = sorted(str(p) for p in (Path(cfg.paths.root) / "lexicons").glob("*/*.txt"))
        seg = Segmenter.from_pretrained(checkpoint, backend="onnx-int8", cache_dir=cfg.paths.cache,
                                        extra_words=gazetteer)
        seg.wordhood = Wordhood(dev_wordhood.sources, seg.wordhood.extra)
        systems["duihua onnx-int8 + gazetteer words"] = (duihua_cut(seg, "fine"), duihua_cut(seg, "coarse"))
    for name, cut in peers().items():
        systems[name] = (cut, cut)

    sets = {k: (gold[: args.limit] if args.limit else gold, target)
            for k, (gold, target) in dev_sets(data, not args.skip_robustness, views).items()}
    slot_texts, slot_gold = slot_spans(data, args.slot_dev_percent)
    rows, results = [], {}
    speed_texts = ["".join(s) for s in sets["PKU fine dev"][0]]
    for name, (fine_cut, coarse_cut) in systems.items():
        fine_cut(speed_texts[:50])  # warm-up (lazy dictionaries, first forward)
        cps = speed(fine_cut, speed_texts, args.repeats)
        res: dict[str, float | None] = {"chars_per_s": round(cps)}
        for set_name, (gold, target) in sets.items():
            texts = ["".join(s) for s in gold]
            if name.startswith("duihua"):
                if target in ("fine", "both"):
                    res[f"{set_name} fine"] = score(gold, fine_cut(texts))["f1"]
                if target in ("coarse", "both"):
                    res[f"{set_name} coarse"] = score(gold, coarse_cut(texts))["f1"]
            else:
                res[set_name] = score(gold, fine_cut(texts))["f1"]
        res["SMP2019 slot spans cut %"] = spans_cut(slot_texts, coarse_cut(slot_texts), slot_gold)["cut_percent"]
        results[name] = res
    base = results.get("pkuseg", {}).get("chars_per_s")
    columns = ["PKU fine dev", "MSR coarse dev", "PKU coarse dev", "SXU test", "Zhuxian test"]
    columns = [c for c in columns if c in sets] + ["SMP2019 slot spans cut %"]
    for name, res in results.items():
        cells = []
        for col in columns:
            if col in res:
                cells.append(f"{res[col]:.2f}")
            elif name.startswith("duihua"):
                vals = [f"{g[0]}:{res[f'{col} {g}']:.2f}" for g in ("fine", "coarse") if f"{col} {g}" in res]
                cells.append(" ".join(vals) if len(vals) > 1 else vals[0].split(":")[1])
            else:
                cells.append(f"{res[col]:.2f}")
        ratio = f"{res['chars_per_s'] / base:.2f}x" if base else "–"
        rows.append((name, *cells, f"{res['chars_per_s']:,}", ratio))
    print_report(("system", *columns, "chars/s", "vs pkuseg"), rows, {
        "bench": "segment", "checkpoint": str(checkpoint), "slot_spans": sum(map(len, slot_gold)),
        "shipped_precision": shipped, "repeats": args.repeats,
        "threads": torch.get_num_threads(), "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
