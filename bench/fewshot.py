"""Few-shot SMP2017 domain classification: every ``finetune.method`` against char TF-IDF + LR.

Train on K = 5, 10, 20 examples per domain (``models/intent/shots.py``, drawn per seed) and on the full
training file; score on SMP2017 ``develop.jsonl`` (the repo's dev split; 770 queries, 31 domains). Systems:

  tfidf      character 1–3-gram TF-IDF + logistic regression (scikit-learn)
  full       TextClassifier, every parameter trains              (models/fewshot/text_classifier.py)
  freeze     embeddings + lowest 3 of 4 layers frozen
  bitfit     bias terms + head
  adapter    bottleneck adapters + head
  ptuning    prompt vectors only, cloze-scored by the frozen MLM head (models/fewshot/cloze.py)
  pet        one cloze model per pattern (encoder + MLM head train), label distributions averaged
  pet-distill  pet's ensemble labels the unlabeled rest of the training file; a full TextClassifier learns
             from those soft labels plus the K labelled examples (few-shot rows only)

Columns: dev accuracy (mean ± std over seeds), trained parameters, stored bytes of the saved delta(s), and
training time (median, seconds; the machine is shared, compare within one run). Every run is appended to
``--out`` (JSON lines) as it finishes, and runs already there are skipped, so a killed bench resumes.
Training uses one thread (on two shared cores, two threads spin-wait each other ~10x slower).

Usage: ``python bench/fewshot.py [--shots 5 10 20 0] [--seeds 1 2 3] [--methods ...] [overrides...]``
(shots 0 = the full training file, ``--full-epochs`` passes). Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from models.fewshot.methods import run_method
from models.intent.data import load_splits
from models.intent.shots import sample_shots
from pipeline.config import load_config

METHODS = ("full", "freeze", "bitfit", "adapter", "ptuning", "pet")
SYSTEMS = ("tfidf", *METHODS, "pet-distill")
EFFICIENT = ("freeze", "bitfit", "adapter", "ptuning", "pet", "pet-distill")


def tfidf_run(train_texts: list[str], train_labels: list[str], dev_texts: list[str]) -> tuple[list[str], float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    t0 = time.perf_counter()
    clf = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
                        LogisticRegression(C=10.0, max_iter=2000))
    clf.fit(train_texts, train_labels)
    return list(clf.predict(dev_texts)), time.perf_counter() - t0


def done_runs(path: Path) -> dict[tuple[int, int, str], dict]:
    runs = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                runs[(r["shots"], r["seed"], r["method"])] = r
    return runs


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def shots_name(k: int) -> str:
    return f"K={k}" if k else "full"


def print_table(runs: dict, shots: list[int], systems: list[str]) -> dict:
    """Per K: accuracy mean ± std, trained parameters, stored bytes, median training time; returns the means."""
    summary: dict = {}
    for k in shots:
        print(f"\n{shots_name(k)}: {'system':10} {'dev acc. %':>16} {'trained params':>15} {'stored bytes':>13} "
              f"{'train s (median)':>17}")
        for system in systems:
            rows = [r for (kk, _, m), r in runs.items() if kk == k and m == system]
            if not rows:
                continue
            acc = [r["accuracy"] for r in rows]
            entry = {"accuracy": round(statistics.mean(acc), 2),
                     "std": round(statistics.stdev(acc), 2) if len(acc) > 1 else 0.0, "seeds": len(rows),
                     "trainable": rows[0]["trainable"], "stored_bytes": rows[0]["stored_bytes"],
                     "train_s": round(statistics.median(r["train_s"] for r in rows), 1)}
            summary.setdefault(shots_name(k), {})[system] = entry
            print(f"{'':{len(shots_name(k)) + 2}}{system:10} {mean_std(acc):>16} {entry['trainable']:>15,} "
                  f"{entry['stored_bytes']:>13,} {entry['train_s']:>17}")
    return summary


def targets(summary: dict) -> dict:
    """The issue's two targets, computed from the table."""
    out: dict = {}
    k10 = summary.get("K=10", {})
    efficient = {m: v["accuracy"] for m, v in k10.items() if m in EFFICIENT}
    if efficient and "full" in k10 and "tfidf" in k10:
        best = max(efficient, key=efficient.get)
        margin = efficient[best] - max(k10["full"]["accuracy"], k10["tfidf"]["accuracy"])
        out["k10_best_efficient"] = best
        out["k10_margin_over_full_and_tfidf"] = round(margin, 2)
        out["k10_target_met"] = margin >= 3.0
    full = summary.get("full", {})
    if "full" in full:
        total = full["full"]["trainable"]
        for m in ("bitfit", "adapter"):
            if m in full:
                gap = round(full["full"]["accuracy"] - full[m]["accuracy"], 2)
                share = round(100 * full[m]["trainable"] / total, 2)
                out[f"full_data_{m}_gap"] = gap
                out[f"full_data_{m}_param_percent"] = share
                out[f"full_data_{m}_target_met"] = gap <= 1.0 and share <= 5.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 10, 20, 0], help="0 = full training file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--full-epochs", type=float, default=3.0, help="passes over the full training file")
    parser.add_argument("--out", default="outputs/fewshot/runs.jsonl", help="per-run results (resume from here)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only print the table of the runs in --out")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. finetune.adapter_size=32")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)

    cfg = OmegaConf.to_container(load_config("train/intent", args.overrides), resolve=True)
    base = cfg["encoder"]["pretrained"]
    train_sets, dev_sets = load_splits(cfg["data"]["dir"], float(cfg["data"]["dev_percent"]))
    train, dev = train_sets["smp2017"], dev_sets["smp2017"]
    labels = sorted({x.label for x in train})
    dev_texts = [x.text for x in dev]
    gold = np.array([labels.index(x.label) for x in dev])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = done_runs(out)
    if runs:
        print(f"resuming: {len(runs)} runs already in {out}", flush=True)
    for k in [] if args.report else args.shots:
        for seed in args.seeds:
            if k:
                labelled, unlabeled = sample_shots(train, k, seed)
                ft = cfg["finetune"]
            else:
                labelled, unlabeled = list(train), []
                ft = {**cfg["finetune"], "small_data": {**cfg["finetune"]["small_data"],
                                                        "epochs": args.full_epochs, "max_steps": None}}
            texts, ys = [x.text for x in labelled], [x.label for x in labelled]
            for method in args.methods:
                if (k, seed, method) in runs or (method == "pet-distill" and not unlabeled):
                    continue
                if method == "tfidf":
                    pred, seconds = tfidf_run(texts, ys, dev_texts)
                    acc = 100 * float(np.mean([p == x.label for p, x in zip(pred, dev, strict=True)]))
                    records = {method: {"accuracy": acc, "trainable": 0, "stored_bytes": 0, "train_s": seconds}}
                elif method == "pet-distill" and "pet" in args.methods:
                    continue   # recorded together with pet (one PET ensemble serves both rows)
                else:
                    distill = method in ("pet", "pet-distill") and "pet-distill" in args.methods and bool(unlabeled)
                    run_cfg = {**ft, "pet": {**ft["pet"], "distill": distill}}
                    name = "pet" if method == "pet-distill" else method
                    with tempfile.TemporaryDirectory() as scratch:
                        run = run_method(run_cfg, name, base, texts, ys, dev_texts, labels, seed, unlabeled,
                                         Path(scratch))
                    records = {}
                    if name == "pet":
                        patterns = [round(100 * float((p.argmax(1) == gold).mean()), 2) for p in run.extra["patterns"]]
                        records["pet"] = {"accuracy": 100 * float((run.extra["ensemble"].argmax(1) == gold).mean()),
                                          "trainable": run.extra["ensemble_trainable"],
                                          "stored_bytes": run.extra["ensemble_stored_bytes"],
                                          "train_s": run.extra["ensemble_s"], "pattern_accuracy": patterns}
                    if name != "pet" or distill:
                        records["pet-distill" if distill else method] = {
                            "accuracy": 100 * float((run.probabilities.argmax(1) == gold).mean()),
                            "trainable": run.trainable, "stored_bytes": run.stored_bytes, "train_s": run.train_s}
                for system, record in records.items():
                    record = {"shots": k, "seed": seed, "method": system, "train_examples": len(texts),
                              **{key: round(v, 2) if isinstance(v, float) else v for key, v in record.items()}}
                    runs[(k, seed, system)] = record
                    with out.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    print(f"{shots_name(k)} seed {seed} {system}: {record['accuracy']:.2f} "
                          f"({record['train_s']:.0f} s)", flush=True)
    summary = print_table(runs, args.shots, list(args.methods))
    print(json.dumps({"bench": "fewshot", "dev": "smp2017 develop.jsonl", "seeds": args.seeds,
                      "full_epochs": args.full_epochs, "results": summary, "targets": targets(summary)},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
