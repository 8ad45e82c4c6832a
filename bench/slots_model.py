"""Slot filling on the dev splits: gazetteer, char CRF, tagger without and with gazetteer fusion; unseen
entities with and without a lexicon listing them; batch-1 latency.

Every system is scored as ``duihua eval slots`` scores the pipeline (span-exact, type ignored) on the dev
files ``duihua train slots`` writes (SMP2019 20 % by text, CrossWOZ user turns of 20 % of dialogues):

* gazetteer      — ``slots=gazetteer``: lexicon matches only;
* char CRF       — sklearn-crfsuite on character n-grams (``bench/slot_crf.py``), one per dataset;
* tagger, text   — ``duihua train slots model.head.fusion=none``, run by ``slots=fused``;
* tagger, fused  — ``duihua train slots`` (the shipped recipe), run by ``slots=fused``;
* joint model    — the same plus domain and intent heads (``data.intent_datasets=[smp2017,smp2019]``): its
  slot F1 here, its argmax intent accuracy on the intent dev sets next to the shipped intent model's, and
  one pass against two (the slot stage's time vs slot + intent stages).

Taggers train ``--seeds`` times (``seed=S``; the shipped checkpoint is reused for its own seed) into
``outputs/bench/slots`` and are reused when present, so the bench resumes after a kill. Neural rows are
mean ± std over seeds; the CRF is deterministic (one fit).

Unseen entities: dev gold spans whose surface is never a gold surface in training. Recall of those spans
with the lexicons as shipped but every such surface removed ("not listed"), and with them added back under
the gazetteer type their gold name coincides with most in training ("listed"); no model is retrained.

    python bench/slots_model.py [--seeds 42 1 2] [--threads 2]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from slot_crf import CharCrf  # noqa: E402

from models.lexicon.features import featurizer_from_config  # noqa: E402
from models.lexicon.manifest import read_manifest  # noqa: E402
from models.normalization import normalize  # noqa: E402
from models.slots.data import SlotExample, load_splits, write_dev_sets  # noqa: E402
from models.slots.scoring import span_scores  # noqa: E402
from pipeline.config import ROOT, load_config  # noqa: E402
from pipeline.evaluate.slots import score as pipeline_score  # noqa: E402
from pipeline.pipeline import Pipeline  # noqa: E402
from pipeline.report import print_report  # noqa: E402

OUT = ROOT / "outputs" / "bench" / "slots"
SHIPPED = ROOT / "checkpoints" / "slots"
BASE = ["intent=none", "reply=none"]   # the shipped runtime (onnx-int8), as `duihua eval slots` runs


def train_config() -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(load_config("train/slots", []), resolve=True)


VARIANTS = {"none": ["model.head.fusion=none"], "gated": ["model.head.fusion=gated"],
            "joint": ["model.head.fusion=gated", "data.intent_datasets=[smp2017,smp2019]"]}


def trained(variant: str, seed: int, cfg: dict) -> Path:
    """The checkpoint of one (variant, seed): the shipped one where it is that run, else trained once."""
    shipped = json.loads((SHIPPED / "slots.json").read_text())["head"] if SHIPPED.is_dir() else {}
    if variant == "gated" and seed == cfg["seed"] and shipped.get("fusion") == "gated" and not shipped.get("domains"):
        return SHIPPED
    folder = OUT / f"{variant}-s{seed}"
    if not (folder / "train_result.json").is_file():
        cmd = [sys.executable, "-m", "pipeline.cli", "train", "slots", f"seed={seed}", *VARIANTS[variant],
               f"output_dir={folder}", f"work_dir={OUT / 'work' / f'{variant}-s{seed}'}", f"dev_dir={OUT / 'dev'}"]
        print(f"training {variant} seed {seed}: {' '.join(cmd[3:])}", file=sys.stderr)
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return folder


def records(examples: Sequence[SlotExample]) -> list[dict]:
    return [x.record() for x in examples]


def pipe_scores(overrides: Sequence[str], dev: dict[str, list[SlotExample]]) -> dict[str, dict]:
    pipe = Pipeline.from_config(overrides=[*BASE, *overrides])
    return {name: pipeline_score(pipe, records(xs))[0] for name, xs in dev.items()}


def crf_scores(train: dict, dev: dict, featurize) -> dict[str, dict]:  # noqa: ANN001
    out = {}
    for name in dev:
        crf = CharCrf(gazetteer=False).fit(train[name], featurize([x.text for x in train[name]]))
        pred = crf.predict([x.text for x in dev[name]], featurize([x.text for x in dev[name]]))
        out[name] = span_scores([x.spans for x in dev[name]], [{(a, b) for a, b, _ in p} for p in pred])
    return out


def latency_ms(overrides: Sequence[str], texts: Sequence[str]) -> dict[str, float]:
    """Median batch-1 wall time of the slot stage (gazetteer + model + values) and of the intent stage after
    it, over ``texts``, in the shipped runtime (``conf/pipeline.yaml``)."""
    pipe = Pipeline.from_config(overrides=["reply=none", "segmenter=none", "splitter=whole", *overrides])
    pipe(texts[0])
    runs = [pipe(t).timings_ms for t in texts]
    return {stage: round(statistics.median(r[stage] for r in runs), 2) for stage in ("slots", "intent")}


# -- unseen entities ---------------------------------------------------------------------------------------
def unseen_spans(train: dict, dev: dict) -> dict[str, list[tuple[int, int, int]]]:
    """Per dataset: ``(record index, start, end)`` of dev gold spans whose surface no training span has."""
    seen = {x.text[a:b] for xs in train.values() for x in xs for a, b, _ in x.spans}
    return {name: [(i, a, b) for i, x in enumerate(xs) for a, b, _ in x.spans if x.text[a:b] not in seen]
            for name, xs in dev.items()}


def type_map(train: dict, featurize) -> dict[str, str]:  # noqa: ANN001
    """Gold name -> the gazetteer type whose candidates coincide with its training spans most often."""
    votes: dict[str, Counter[str]] = {}
    for xs in train.values():
        for x, tags in zip(xs, featurize([x.text for x in xs]), strict=True):
            for a, b, name in x.spans:
                for tag in tags[a]:
                    t = tag[2:]
                    whole = tag.startswith("B-") and all(f"I-{t}" in tags[i] for i in range(a + 1, b)) and (
                        b == len(tags) or f"I-{t}" not in tags[b])
                    if whole:
                        votes.setdefault(name, Counter())[t] += 1
    return {name: c.most_common(1)[0][0] for name, c in votes.items()}


def lexicon_copies(domains: dict[str, str], drop: set[str], add: dict[str, set[str]], root: Path) -> list[str]:
    """Overrides selecting copies of the lexicons without the ``drop`` surfaces, plus (``add``) one extra
    domain listing surfaces per gazetteer type."""
    dirs = {}
    for name, folder in domains.items():
        target = root / name
        shutil.copytree(folder, target)
        for f in target.glob("*.txt"):
            lines = f.read_text(encoding="utf-8").splitlines()
            f.write_text("\n".join(x for x in lines if normalize(x.split("\t")[0]) not in drop) + "\n", "utf-8")
        dirs[name] = target
    overrides = ["lexicons=[]"]
    extra = []
    if add:
        held = root / "heldout"
        held.mkdir()
        slots = []
        for t, surfaces in sorted(add.items()):
            (held / f"{t}.txt").write_text("\n".join(sorted(surfaces)) + "\n", encoding="utf-8")
            slots.append(f"  - {{type: {t}, files: [{t}.txt]}}")
        (held / "lexicon.yaml").write_text("domain: heldout\nslots:\n" + "\n".join(slots) + "\n", encoding="utf-8")
        extra.append(str(held))
    extra += [str(p) for p in dirs.values()]
    assert all(read_manifest(Path(p)) for p in extra)
    return [*overrides, f"lexicons.extra_dirs=[{','.join(extra)}]"]


def unseen_recall(overrides: Sequence[str], dev: dict, spans: dict) -> dict[str, float]:
    pipe = Pipeline.from_config(overrides=[*BASE, *overrides])
    out = {}
    for name, xs in dev.items():
        results = pipe.batch([x.text for x in xs])
        found = [{(s.start + m.start, s.start + m.end) for s in r.sentences for m in s.slots} for r in results]
        hits = sum((a, b) in found[i] for i, a, b in spans[name])
        out[name] = round(hits / len(spans[name]), 4) if spans[name] else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--joint-seeds", type=int, default=1, help="seeds of the joint model (of --seeds)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = train_config()
    train, dev = load_splits(cfg["data"]["dir"], cfg["data"]["datasets"], float(cfg["data"]["crosswoz_dev_percent"]))
    write_dev_sets(dev, OUT / "dev")
    featurize, _ = featurizer_from_config(cfg)
    t0 = time.time()
    systems: dict[str, list[dict[str, dict]]] = {
        "gazetteer": [pipe_scores(["slots=gazetteer"], dev)],
        "char CRF": [crf_scores(train, dev, featurize)],
    }
    folders = {v: [trained(v, s, cfg) for s in args.seeds] for v in ("none", "gated")}
    folders["joint"] = [trained("joint", s, cfg) for s in args.seeds[: args.joint_seeds]]
    names = {"none": "tagger, text only", "gated": "tagger, gated fusion", "joint": "joint model (intent + slots)"}
    for variant, name in names.items():
        systems[name] = [pipe_scores(["slots=fused", f"slots.checkpoint={f}"], dev) for f in folders[variant]]
    texts = [x.text for xs in dev.values() for x in xs][: args.latency_queries]
    timings = {"gazetteer": latency_ms(["slots=gazetteer"], texts),
               "fused": latency_ms(["slots=fused", f"slots.checkpoint={folders['gated'][0]}"], texts)}
    # two models: the tagger, then the slot-aware intent classifier; the joint model: one pass for both
    latency = {"gazetteer": timings["gazetteer"]["slots"], "tagger, gated fusion": timings["fused"]["slots"],
               "joint model (intent + slots)": timings["fused"]["slots"],
               "two models (tagger + intent)": round(timings["fused"]["slots"] + timings["fused"]["intent"], 2)}
    intent_acc = {"shipped intent model": {n: json.loads((ROOT / "checkpoints/intent/train_result.json").read_text(
        ))["dev"][n]["accuracy"] for n in ("smp2017", "smp2019")}}
    for k, f in enumerate(folders["joint"]):
        dev_result = json.loads((f / "train_result.json").read_text())["dev"]
        intent_acc[f"joint model, seed {args.seeds[k]}"] = {n: dev_result[n]["intent_accuracy"]
                                                             for n in ("smp2017", "smp2019")}
    rows, summary = [], {}
    for system, runs in systems.items():
        entry: dict[str, object] = {}
        for name in dev:
            f1s = [r[name]["f1"] for r in runs]
            mean, std = statistics.mean(f1s), statistics.pstdev(f1s) if len(f1s) > 1 else 0.0
            p = statistics.mean(r[name]["precision"] for r in runs)
            rc = statistics.mean(r[name]["recall"] for r in runs)
            entry[name] = {"f1": round(mean, 4), "f1_std": round(std, 4), "precision": round(p, 4),
                           "recall": round(rc, 4), "runs": len(runs)}
        summary[system] = entry
        rows.append((system, len(runs), *(f"{entry[n]['f1']:.4f} ± {entry[n]['f1_std']:.4f}" for n in dev),
                     *(f"{entry[n]['precision']:.3f} / {entry[n]['recall']:.3f}" for n in dev),
                     latency.get(system, "–")))
    # unseen entities
    spans = unseen_spans(train, dev)
    unseen_surfaces = {normalize(dev[n][i].text[a:b]) for n in spans for i, a, b in spans[n]}
    mapping = type_map(train, featurize)
    add: dict[str, set[str]] = {}
    for n in spans:
        for i, a, b in spans[n]:
            name = next(nm for s, e, nm in dev[n][i].spans if (s, e) == (a, b))
            if name in mapping:
                add.setdefault(mapping[name], set()).add(dev[n][i].text[a:b])
    domains = dict(cfg["slots"]["domains"])
    unseen: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        without = lexicon_copies(domains, unseen_surfaces, {}, Path(tmp) / "without")
        listed = lexicon_copies(domains, unseen_surfaces, add, Path(tmp) / "with")
        gated = f"slots.checkpoint={folders['gated'][0]}"
        for label, lex in (("not listed", without), ("listed", listed)):
            unseen[f"gazetteer, {label}"] = unseen_recall(["slots=gazetteer", *lex], dev, spans)
            unseen[f"tagger, gated fusion, {label}"] = unseen_recall(["slots=fused", gated, *lex], dev, spans)
    for system, rec in unseen.items():
        rows.append((f"unseen: {system}", 1, *(f"recall {rec[n]:.4f}" for n in dev), *("" for _ in dev), "–"))
    rows.append(("two models (tagger + intent)", "", *("" for _ in dev), *("" for _ in dev),
                 latency["two models (tagger + intent)"]))
    for system, acc in intent_acc.items():
        rows.append((f"intent: {system}", 1, f"SMP2017 {acc['smp2017']:.2f}", f"SMP2019 {acc['smp2019']:.2f}",
                     *("" for _ in dev), "–"))
    headers = ("system", "runs", *(f"{n} F1" for n in dev), *(f"{n} P / R" for n in dev), "slot stage ms (batch 1)")
    print_report(headers, rows, {"bench": "slots_model", "seeds": args.seeds, "systems": summary, "latency_ms": latency,
                                 "intent_accuracy": intent_acc,
                                 "unseen_spans": {n: len(s) for n, s in spans.items()}, "unseen_recall": unseen,
                                 "seconds": round(time.time() - t0, 1)})


if __name__ == "__main__":
    main()
