"""Segmenter ablations: which parts of the model and data earn their keep, at one reduced training budget.

Every variant is trained by the project's own ``duihua train segmenter`` code with the shipped config plus
the same budget overrides (``--budget``: a sample of each training view and fewer epochs, so each variant
takes a few minutes of 2-core CPU) and its own changes. Two groups:

The design, from the original issue's model (3 encoder layers + an MHA layer, no wordhood features):

* ``unified``        — the issue's design (3 encoder layers, bigrams, MHA layer, auxiliary task, both views)
* ``no_bigrams``     — ``model.bigram_dim=0``
* ``no_mha``         — ``model.mha_heads=0``
* ``no_aux``         — ``model.aux_weight=0``
* ``fine_only``      — trained on the PKU fine view only (single-granularity model)
* ``coarse_only``    — trained on the coarse views only (MSR slice + derived PKU coarse view)
* ``no_coarse_rules``— the derived PKU coarse view without any MSR rule (PKU words as they are)
* ``encoder_2l``     — the lowest 2 encoder layers instead of 3 (speed/accuracy trade-off)

The wordhood features (``models/segmenter/wordhood.py``), on the shipped design (2 layers, no MHA layer):

* ``wordhood``            — every configured list (PKU, MSR, THUOCL), as shipped
* ``no_wordhood``         — ``wordhood.sources=null``
* ``wordhood_pku`` / ``wordhood_msr`` / ``wordhood_thuocl`` — one list alone
* ``wordhood_no_dropout`` — ``wordhood.dropout=0``: the model never sees a gold word its list misses
* ``wordhood_1l``         — one encoder layer: does the word-list evidence let a faster model keep up?

Wordhood variants are scored with the dev-only words taken out of the lists (as ``duihua train segmenter``
scores them); the last column keeps the lists as shipped (an upper bound).

Scores are the full dev sets (PKU fine, MSR coarse, PKU coarse view), scored on the exported fp16 model.
Finished variants are reused (their ``train_result.json``), so the script can be stopped and rerun.

    python bench/segment_ablation.py [--only unified,no_mha] [--budget "data.max_examples=6000 ..."]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from pipeline.config import ROOT, load_config
from pipeline.report import print_report

BUDGET = "data.max_examples=4000 trainer.num_train_epochs=1 trainer.eval_steps=400 trainer.save_steps=400"
# the design group's base is the original design; the shipped model is its no_mha + encoder_2l + wordhood
DESIGN = ["model.encoder_layers=3", "model.mha_heads=4", "wordhood.sources=null"]
OTHER_LISTS = {"pku": ("msr", "thuocl"), "msr": ("pku", "thuocl"), "thuocl": ("pku", "msr")}
VARIANTS: dict[str, list[str]] = {
    "unified": DESIGN,
    "no_bigrams": [*DESIGN, "model.bigram_dim=0"],
    "no_mha": [*DESIGN, "model.mha_heads=0"],
    "no_aux": [*DESIGN, "model.aux_weight=0"],
    "fine_only": [*DESIGN, "data.views.pku_coarse=0", "data.views.msr=0"],
    "coarse_only": [*DESIGN, "data.views.pku_fine=0"],
    "no_coarse_rules": [*DESIGN, "data.coarse_rules=[]"],
    "encoder_2l": [*DESIGN, "model.encoder_layers=2"],
    "wordhood": [],
    "no_wordhood": ["wordhood.sources=null"],
    **{f"wordhood_{name}": [f"~wordhood.sources.{k}" for k in others] for name, others in OTHER_LISTS.items()},
    "wordhood_no_dropout": ["wordhood.dropout=0"],
    "wordhood_1l": ["model.encoder_layers=1"],
}
TRAINS = {"fine_only": ("fine",), "coarse_only": ("coarse",)}  # granularities a variant was trained on


def run_variant(name: str, budget: Sequence[str], out_root: Path) -> dict:
    from models.segmenter.train import train

    folder = out_root / name
    result_file = folder / "model" / "train_result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text(encoding="utf-8"))
    overrides = [*budget, *VARIANTS[name], f"output_dir={folder / 'model'}", f"work_dir={folder / 'work'}"]
    cfg = OmegaConf.to_container(load_config("train/segmenter", overrides), resolve=True)
    cfg["command"] = " ".join(["duihua", "train", "segmenter", *map(shlex.quote, overrides)])
    train(cfg)
    return json.loads(result_file.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated variant names")
    parser.add_argument("--budget", default=BUDGET, help="overrides shared by every variant")
    parser.add_argument("--out", default=str(ROOT / "outputs" / "segment_ablation"))
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    budget = shlex.split(args.budget)
    rows, results = [], {}
    for name in names:
        res = run_variant(name, budget, Path(args.out))
        trained = TRAINS.get(name, ("fine", "coarse"))
        dev = res["dev"]
        cell = {
            "fine_f1": dev["pku_fine"]["f1"] if "fine" in trained else None,
            "coarse_f1": dev["msr"]["f1"] if "coarse" in trained else None,
            "pku_coarse_f1": dev["pku_coarse"]["f1"] if "coarse" in trained else None,
            "fine_oov_recall": dev["pku_fine"]["oov_recall"] if "fine" in trained else None,
            "chars_per_s": dev["pku_fine"]["chars_per_s"], "train_min": round(res["train_runtime_s"] / 60, 1),
            "coarse_f1_shipped_lists": (res.get("dev_shipped_lists") or {}).get("msr", {}).get("f1"),
        }
        results[name] = cell
        rows.append((name, *("–" if v is None else v for v in cell.values())))
    print_report(("variant", "PKU fine F1", "MSR coarse F1", "PKU coarse F1", "fine OOV R", "chars/s (fp32)",
                  "train min", "MSR F1, lists as shipped"), rows,
                 {"bench": "segment_ablation", "budget": args.budget, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
