"""Encoder speed: fp32 eager forward latency (batch 1 x 32 characters), throughput (batch 64), peak memory.

Measures the shipped ``checkpoints/encoder-tiny`` and, in the same run, the ``small`` architecture (random
weights: speed does not depend on them). Latency is the median and P95 of ``--repeats`` calls after warm-up;
machines are shared and noisy, so compare the ratio between rows.

    python bench/encoder.py [--repeats 200] [--threads N]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
from pathlib import Path

import torch
from transformers import BertModel

from models.encoder.modeling import bert_config, load_encoder
from pipeline.config import load_config
from pipeline.report import print_report

TEXT = ("明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度" * 2)[:32]  # exactly 32 characters


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model: BertModel, input_ids: torch.Tensor, repeats: int) -> list[float]:
    mask = torch.ones_like(input_ids)
    with torch.inference_mode():
        for _ in range(5):
            model(input_ids=input_ids, attention_mask=mask)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(input_ids=input_ids, attention_mask=mask)
            times.append(time.perf_counter() - t0)
    return times


def bench(name: str, model: BertModel, ids: torch.Tensor, repeats: int) -> dict:
    model.eval().float()
    before = peak_rss_mb()
    single = measure(model, ids, repeats)
    batch = measure(model, ids.repeat(64, 1), max(10, repeats // 10))
    params = sum(p.numel() for p in model.parameters())
    return {
        "encoder": name,
        "params_m": round(params / 1e6, 2),
        "p50_ms": round(statistics.median(single) * 1000, 3),
        "p95_ms": round(statistics.quantiles(single, n=20)[18] * 1000, 3),
        "batch64_seq_per_s": round(64 / statistics.median(batch), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_growth_mb": round(peak_rss_mb() - before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config("train/pretrain")
    shipped = Path(cfg.encoder.pretrained)
    if not (shipped / "config.json").is_file():
        raise SystemExit(f"no shipped encoder at {shipped}; run `duihua train pretrain` first")
    tiny, tok = load_encoder(shipped)
    ids = tok(TEXT, return_tensors="pt", add_special_tokens=False)["input_ids"]
    assert ids.shape == (1, 32), ids.shape
    rows = [bench("tiny (shipped)", tiny, ids, args.repeats)]
    del tiny
    gc.collect()
    small_arch = load_config("train/pretrain", ["encoder=small"]).encoder.architecture
    small = BertModel(bert_config(small_arch, vocab_size=len(tok), pad_token_id=tok.pad_token_id))
    rows.append(bench("small (same vocab)", small, ids, args.repeats))
    headers = list(rows[0])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32 eager, batch 1 x 32 chars")
    tiny_row, small_row = rows
    print_report(headers, [list(r.values()) for r in rows], {
        "bench": "encoder",
        "tiny_p50_ms": tiny_row["p50_ms"],
        "tiny_p95_ms": tiny_row["p95_ms"],
        "tiny_batch64_seq_per_s": tiny_row["batch64_seq_per_s"],
        "tiny_peak_rss_mb": tiny_row["peak_rss_mb"],
        "small_p50_ms": small_row["p50_ms"],
        "small_over_tiny_latency": round(small_row["p50_ms"] / tiny_row["p50_ms"], 2),
        "threads": torch.get_num_threads(),
    })


if __name__ == "__main__":
    main()
