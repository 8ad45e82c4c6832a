"""Does pre-training help downstream? SMP2017 domain classification from the pre-trained encoder vs random init.

Same architecture, tokenizer, budget (epochs, batch, learning rate) and seeds for both arms; only the initial
weights differ. Train: ``nlu/smp2017/train.jsonl`` (2,299 queries, 31 domains); dev: ``develop.jsonl`` (770),
which pre-training never saw. Reports accuracy and macro-F1 per seed, then the mean of the seeds.

    python bench/pretraining_gain.py [--seeds 1 2 3] [--epochs 10]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

from models.common.training import run_training, set_seed
from models.tokenization import load_tokenizer
from pipeline.config import load_config
from pipeline.report import print_report


def read(path: Path) -> list[tuple[str, str]]:
    return [(r["query"], r["label"]) for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())]


class Encoded(torch.utils.data.Dataset):
    def __init__(self, rows: list[tuple[str, str]], tok, labels: dict[str, int]) -> None:
        enc = tok([q for q, _ in rows], truncation=True, max_length=64)
        self.items = [{"input_ids": ids, "labels": labels[y]} for ids, (_, y) in zip(enc["input_ids"], rows,
                                                                                         strict=True)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def collate(pad_id: int):
    def fn(batch: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        for i, b in enumerate(batch):
            ids[i, : len(b["input_ids"])] = torch.tensor(b["input_ids"])
        return {"input_ids": ids, "attention_mask": (ids != pad_id).long(),
                "labels": torch.tensor([b["labels"] for b in batch])}
    return fn


def metrics(eval_pred) -> dict[str, float]:
    preds = eval_pred.predictions.argmax(-1)
    gold = eval_pred.label_ids
    f1s = []
    for c in np.unique(gold):
        tp = ((preds == c) & (gold == c)).sum()
        p = tp / max(1, (preds == c).sum())
        r = tp / max(1, (gold == c).sum())
        f1s.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return {"accuracy": float((preds == gold).mean()), "macro_f1": float(np.mean(f1s))}


def run(init: str, seed: int, encoder_dir: Path, data: Path, args, tok) -> dict[str, float]:
    train_rows, dev_rows = read(data / "train.jsonl"), read(data / "develop.jsonl")
    labels = {y: i for i, y in enumerate(sorted({y for _, y in train_rows}))}
    set_seed(seed)
    if init == "pretrained":
        model = AutoModelForSequenceClassification.from_pretrained(str(encoder_dir), num_labels=len(labels))
    else:
        config = BertConfig.from_pretrained(str(encoder_dir), num_labels=len(labels))
        model = BertForSequenceClassification(config)
    model.float()
    trainer_cfg = {"per_device_train_batch_size": 32, "per_device_eval_batch_size": 128,
                   "learning_rate": args.lr, "num_train_epochs": args.epochs, "warmup_steps": 0.1,
                   "weight_decay": 0.01, "eval_strategy": "no", "save_strategy": "no", "logging_steps": 50,
                   "seed": seed, "data_seed": seed, "resume": False, "remove_unused_columns": False,
                   "disable_tqdm": True}
    with tempfile.TemporaryDirectory() as out:
        _, result = run_training(model, Encoded(train_rows, tok, labels), Encoded(dev_rows, tok, labels),
                                 collate(tok.pad_token_id), out, trainer_cfg, compute_metrics=metrics)
    return {"accuracy": result["eval_accuracy"], "macro_f1": result["eval_macro_f1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--encoder", type=Path, default=None, help="encoder folder (default: encoder.pretrained)")
    args = parser.parse_args()
    cfg = load_config("train/pretrain")
    encoder_dir = args.encoder or Path(cfg.encoder.pretrained)
    data = Path(cfg.paths.data) / "nlu/smp2017"
    tok = load_tokenizer(encoder_dir)
    rows, summary = [], {}
    for init in ("pretrained", "random"):
        scores = [run(init, seed, encoder_dir, data, args, tok) for seed in args.seeds]
        for seed, s in zip(args.seeds, scores, strict=True):
            rows.append((init, seed, round(s["accuracy"], 4), round(s["macro_f1"], 4)))
        summary[init] = {k: statistics.mean(s[k] for s in scores) for k in ("accuracy", "macro_f1")}
        rows.append((init, "mean", round(summary[init]["accuracy"], 4), round(summary[init]["macro_f1"], 4)))
    print(f"SMP2017 domain classification, {len(args.seeds)} seeds, {args.epochs} epochs, lr {args.lr}, "
          f"batch 32, encoder {encoder_dir.name}")
    print_report(("init", "seed", "dev accuracy", "dev macro-F1"), rows, {
        "bench": "pretraining_gain",
        "pretrained_accuracy": round(summary["pretrained"]["accuracy"], 4),
        "random_accuracy": round(summary["random"]["accuracy"], 4),
        "pretrained_macro_f1": round(summary["pretrained"]["macro_f1"], 4),
        "random_macro_f1": round(summary["random"]["macro_f1"], 4),
        "accuracy_gain": round(summary["pretrained"]["accuracy"] - summary["random"]["accuracy"], 4),
        "seeds": args.seeds,
        "epochs": args.epochs,
    })


if __name__ == "__main__":
    main()
