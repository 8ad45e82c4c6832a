"""fp32 vs half-precision autocast for the torch runtime on one device (made for a CUDA GPU: fp16).

The issue's rule is that ``runtime=torch`` on a CUDA device runs in fp16 automatically (``runtime.precision``
``auto``). This measures what that buys, stage by stage, on the same real dev queries (SMP2017 ``develop`` and
the SMP2019 dev split): batch-1 latency (median and P99 over ``--queries``), batched throughput, how often
the half-precision output equals the fp32 one, and intent dev accuracy in both precisions. The reply
generator's cached decoder runs on CPU only, so it is not measured here.

Usage: ``python bench/cuda_precision.py [--device cuda] [--half fp16] [--queries 500] [overrides...]``;
prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from models.intent.data import flatten, load_splits
from models.intent.inference import IntentClassifier
from models.intent.scoring import score
from models.lexicon.features import featurizer_from_config
from models.segmenter.inference import Segmenter
from models.splitter.inference import Splitter
from pipeline.config import load_config
from pipeline.report import print_report


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def latencies(fn: Callable[[list], object], items: Sequence, device: str) -> list[float]:
    for item in items[:20]:  # warm-up: kernels, autocast caches
        fn([item])
    out = []
    for item in items:
        sync(device)
        t0 = time.perf_counter()
        fn([item])
        sync(device)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def throughput(fn: Callable[[list], object], items: Sequence, device: str, batch: int = 256) -> float:
    fn(list(items[:batch]))
    sync(device)
    t0 = time.perf_counter()
    for i in range(0, len(items), batch):
        fn(list(items[i:i + batch]))
    sync(device)
    return len(items) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--half", default="fp16", choices=["fp16", "bf16"])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--batched", type=int, default=0, help="queries for throughput (0: every dev query)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    cfg = OmegaConf.to_container(load_config("train/intent", args.overrides), resolve=True)
    _, dev = load_splits(cfg["data"]["dir"], float(cfg["data"]["dev_percent"]))
    examples = flatten(dev)
    texts = [x.text for x in examples]
    featurize, _ = featurizer_from_config(cfg)
    slots = featurize(texts)
    ckpt = Path(cfg["paths"]["checkpoints"])
    rows, metrics = [], {"device": str(torch.cuda.get_device_name(0)) if args.device.startswith("cuda") else "cpu"}
    n = min(args.queries, len(texts))
    for stage in ("splitter", "segmenter", "intent"):
        outputs, lat, qps = {}, {}, {}
        for precision in ("fp32", args.half):
            if stage == "splitter":
                model = Splitter.from_pretrained(ckpt / "splitter", precision=precision, device=args.device)
                fn = model.split
                items = texts
            elif stage == "segmenter":
                model = Segmenter.from_pretrained(ckpt / "segmenter", precision=precision, device=args.device)
                fn = model.segment
                items = texts
            else:
                model = IntentClassifier.from_pretrained(ckpt / "intent", precision=precision, device=args.device)
                items = list(zip(texts, slots, strict=True))

                def fn(batch: list, model: IntentClassifier = model) -> list:
                    return model.predict([t for t, _ in batch], [s for _, s in batch])
            lat[precision] = latencies(fn, items[:n], args.device)
            qps[precision] = throughput(fn, items[:args.batched or None], args.device)
            result = fn(items[:args.batched or None])
            outputs[precision] = [r.label for r in result] if stage == "intent" else result
            if stage == "intent":
                for name, part in dev.items():
                    mode = "intent" if any(x.intent for x in part) else "domain"
                    pred = model.predict([x.text for x in part], featurize([x.text for x in part]), mode=mode)
                    metrics[f"intent_{name}_accuracy_{precision}"] = score(part, [p.label for p in pred])["accuracy"]
        same = float(np.mean([a == b for a, b in zip(outputs["fp32"], outputs[args.half], strict=True)]))
        for precision in ("fp32", args.half):
            p50 = statistics.median(lat[precision])
            p99 = float(np.percentile(lat[precision], 99))
            rows.append((stage, precision, round(p50, 2), round(p99, 2), round(qps[precision], 1),
                         round(same, 4) if precision != "fp32" else 1.0))
            metrics[f"{stage}_{precision}_p50_ms"] = round(p50, 3)
            metrics[f"{stage}_{precision}_qps"] = round(qps[precision], 1)
        metrics[f"{stage}_same_output"] = round(same, 4)
        metrics[f"{stage}_batched_speedup"] = round(qps[args.half] / qps["fp32"], 3)
    print_report(("stage", "precision", "batch-1 P50 ms", "P99 ms", "batched queries/s", "same output as fp32"),
                 rows, metrics)


if __name__ == "__main__":
    main()
