"""Intent classification: TF-IDF + logistic regression vs the encoder with and without slot fusion.

Same splits as ``duihua train intent`` (SMP2017 ``develop.jsonl``; 20 % of SMP2019 by CRC32), every system
in the same run, neural variants over ``--seeds`` seeds (mean ± std):

  (a) character 1–3-gram TF-IDF + logistic regression, one classifier per dataset on its own label
  (b) the same encoder and head, no slot input                         (model.head.fusion=none)
  (c) slot types appended as extra input tokens                         (model.head.fusion=tokens)
  (d) gated slot attention                                               (model.head.fusion=gated)
  (d) with the lexicons switched off at inference (no gazetteer tags for the model trained with them)

Accuracy is on each dataset's own label (SMP2017: domain; SMP2019: domain/intent), in percent.
Usage: ``python bench/intent.py [--seeds 1 2 3] [--epochs N] [overrides...]``; prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

from models.intent.data import load_splits
from models.intent.scoring import score
from models.intent.train import train
from models.lexicon.features import featurizer_from_config
from pipeline.config import load_config

VARIANTS = {"(b) text only": "none", "(c) slot tokens": "tokens", "(d) gated slot attention": "gated"}
DATASETS = ("smp2017", "smp2019")


def tfidf_baseline(cfg: dict) -> dict[str, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train_sets, dev_sets = load_splits(cfg["data"]["dir"], float(cfg["data"]["dev_percent"]))
    out = {}
    for name in DATASETS:
        clf = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
                            LogisticRegression(C=10.0, max_iter=2000))
        clf.fit([x.text for x in train_sets[name]], [x.label for x in train_sets[name]])
        pred = clf.predict([x.text for x in dev_sets[name]])
        out[name] = score(dev_sets[name], list(pred))["accuracy"]
    return out


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=None, help="override trainer.num_train_epochs")
    parser.add_argument("--work", default="outputs/intent/bench", help="where the bench models go")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    base = [*args.overrides] + ([f"trainer.num_train_epochs={args.epochs}"] if args.epochs else [])
    cfg = OmegaConf.to_container(load_config("train/intent", base), resolve=True)
    featurize, pool = featurizer_from_config(cfg)
    results: dict[str, dict[str, list[float]]] = {"(a) TF-IDF + LR": {k: [] for k in DATASETS}}
    tfidf = tfidf_baseline(cfg)
    for k in DATASETS:
        results["(a) TF-IDF + LR"][k].append(tfidf[k])
    off = "(d) lexicons off at inference"
    for label in [*VARIANTS, off]:
        results[label] = {k: [] for k in DATASETS}
    work = Path(args.work)
    for seed in args.seeds:
        for label, fusion in VARIANTS.items():
            with tempfile.TemporaryDirectory() as scratch:
                run = OmegaConf.to_container(load_config("train/intent", [
                    *base, f"seed={seed}", f"model.head.fusion={fusion}",
                    f"output_dir={work / f'{fusion}-seed{seed}'}", f"work_dir={scratch}", "trainer.resume=false"]),
                    resolve=True)
                metrics = train(run, featurize, pool)
            for k in DATASETS:
                results[label][k].append(metrics[f"{k}_accuracy"])
                if fusion == "gated":
                    results[off][k].append(metrics[f"{k}_no_lexicons"])
            print(f"seed {seed} {label}: " + ", ".join(f"{k} {metrics[f'{k}_accuracy']:.2f}" for k in DATASETS),
                  flush=True)

    print(f"\n{'system':34} {'SMP2017 dev acc.':>18} {'SMP2019 dev acc.':>18}")
    for label, per in results.items():
        print(f"{label:34} {mean_std(per['smp2017']):>18} {mean_std(per['smp2019']):>18}")
    mean = {label: {k: statistics.mean(v) for k, v in per.items()} for label, per in results.items()}
    gated, text, tokens = mean["(d) gated slot attention"], mean["(b) text only"], mean["(c) slot tokens"]
    summary = {
        "bench": "intent", "seeds": args.seeds,
        "accuracy": {label: {k: round(v, 2) for k, v in per.items()} for label, per in mean.items()},
        "std": {label: {k: round(statistics.stdev(v), 2) if len(v) > 1 else 0.0 for k, v in per.items()}
                for label, per in results.items()},
        "fusion_gain_d_minus_b": {k: round(gated[k] - text[k], 2) for k in DATASETS},
        "d_minus_c": {k: round(gated[k] - tokens[k], 2) for k in DATASETS},
    }
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
