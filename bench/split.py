"""Sentence splitting of unpunctuated text: rules, the boundary models alone, and the joint decoder's ablations.

All systems split the same dev records in the same run (``duihua eval split`` scoring, fractions in [0, 1]):

* requests — 1–4 held-out SMP requests joined (SMP2017 ``develop.jsonl`` + 15 % of SMP2019 by text);
* dialogue — every held-out CrossWOZ turn with two or more sentences (cut at 。！？);
* mixed    — the training mix of requests, dialogue turns, chat utterances and news sentences;
* lone     — every held-out SMP request alone: "wrong cut" is the share that comes out in pieces;
* smp2017  — 1–4 SMP2017 ``develop.jsonl`` requests joined (1,500 records, their own seed). The cleanest of
  the request sets for a tagger that reads the lexicons: every model holds these out and no lexicon is built
  from them, while the ``requests`` set's SMP2019 share is drawn by the splitter's own group hash, so most of
  its names are lexicon entries (derived from the intent split's training texts).

Systems: ``splitter=punct``; the teachers, their ensemble and the student (boundary probability ≥ threshold);
the joint decoder (``splitter=joint``, ``models/splitter/joint.py``) over the student: the intent model's
confidence alone, the request scorer alone, the scorer with the lexicon-entry penalty (the shipped
``splitter=joint`` settings), and all three. Weights are ``conf/splitter/joint.yaml``'s; a weight that is 0
there is taken from ``--intent-weight`` (intent) or set to 5 (entries), so every ablation has its evidence.
``splitter=joint, onnx-int8`` is the shipped stage itself under the default runtime.

The dev files are the ones ``duihua train splitter[-distill]`` writes (``outputs/splitter/dev``); they are
rebuilt from ``../shared/data`` with the training config when missing. Speed is characters per second over
the requests set, batched (the stage's way of running), median of ``--repeats`` passes; the ratios (student
F1 ÷ ensemble F1, student speed ÷ ensemble speed) are what to quote, since the machines are shared and noisy.
The student also runs under every runtime (bf16 autocast, ONNX fp32, ONNX int8).

    python bench/split.py [--student checkpoints/splitter] [--scorer checkpoints/request_scorer]
                          [--teachers outputs/splitter/teachers] [--repeats 3] [--skip-runtimes]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from models.lexicon.features import gazetteer_featurizer, selected_dirs
from models.lexicon.gazetteer import Gazetteer
from models.lexicon.gazetteer_load import load_gazetteer
from models.splitter.inference import BoundaryTagger, Splitter, SplitterEnsemble
from models.splitter.joint import JointDecoder, JointSettings, inside_entity, intent_evidence
from models.splitter.scorer import RequestScorer
from models.splitter.scoring import score_cuts
from models.splitter.spans import punct_cuts
from models.splitter.synth import synthesize
from models.splitter.train import DEV_SEED, counts, dev_sets, load_groups, write_dev_sets
from pipeline.config import ROOT, load_config
from pipeline.evaluate.splitter import read_records
from pipeline.report import print_report

Cuts = Callable[[list[str]], list[list[int]]]
SETS = ("requests", "dialogue", "mixed", "smp2017")
ALL_SETS = (*SETS, "lone")
DEV_FILES = ("requests", "dialogue", "mixed", "lone")   # what the train command writes


def load_dev(folder: Path) -> dict[str, list[list[str]]]:
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(load_config("train/splitter", []), resolve=True)["data"]
    dev_groups = load_groups(data)[1]
    if not all((folder / f"{name}.jsonl").is_file() for name in DEV_FILES):
        logging.warning("dev files missing in %s: rebuilding them from %s", folder, data["dir"])
        write_dev_sets(dev_sets(dev_groups, data), folder)
    dev = {name: read_records(folder / f"{name}.jsonl") for name in DEV_FILES}
    smp2017 = {"requests": [g for g in dev_groups["requests"] if g.id.startswith("smp2017:")]}
    dev["smp2017"] = synthesize(smp2017, {"requests": 1}, counts(data), int(data["dev_examples"]), DEV_SEED + 3,
                                data["max_chars"])
    return dev


def joint_node() -> dict:
    """The shipped ``splitter=joint`` settings (``conf/splitter/joint.yaml``)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(load_config("pipeline", ["splitter=joint"]).splitter, resolve=True)


def pipeline_gazetteer() -> tuple[list[tuple[str, str]], Gazetteer]:
    """The default pipeline's lexicons: their folders, and the gazetteer over them."""
    lexicons = selected_dirs(dict(load_config("pipeline", []).lexicons.domains))
    return lexicons, load_gazetteer(lexicons, str(ROOT / "outputs" / "cache"))


def joint_systems(student: BoundaryTagger, scorer: RequestScorer, intent_weight: float) -> dict[str, Cuts]:
    """The ablations: piece evidence from the intent model alone, the request scorer alone, scorer + the lexicon
    entries (the shipped settings, whatever their weights), and all of it."""
    node = joint_node()
    settings = JointSettings(candidate_min=node["candidate_min"], max_span=node["max_span"],
                             boundary_weight=node["boundary_weight"], cut_bias=node["cut_bias"])
    lexicons, gazetteer = pipeline_gazetteer()
    entity = inside_entity(lambda t: [(h.start, h.end) for h in gazetteer.find(t)], node["entity_min_chars"])
    intent = intent_evidence(ROOT / "checkpoints" / "intent", lexicons, str(ROOT / "outputs" / "cache"))
    w_scorer, w_entity = float(node["scorer_weight"]), float(node["entity_weight"]) or 5.0
    w_intent = float(node["intent_weight"]) or intent_weight
    piece, gaps = scorer.log_probabilities, [(entity, w_entity)]
    variants = {"joint: intent confidence": ([(intent, w_intent)], []),
                "joint: request scorer": ([(piece, w_scorer)], []),
                "joint: scorer + lexicon entries": ([(piece, w_scorer)], gaps),
                "joint: scorer + entries + intent": ([(piece, w_scorer), (intent, w_intent)], gaps)}
    return {name: JointDecoder(student, evidence, settings, gap).cuts for name, (evidence, gap) in variants.items()}


def speed(cuts: Cuts, texts: list[str], repeats: int) -> float:
    cuts(texts[:50])  # warm-up (ONNX session, allocator)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        cuts(texts)
        rates.append(sum(map(len, texts)) / (time.perf_counter() - t0))
    return statistics.median(rates)


def batch1_ms(cuts: Cuts, texts: Sequence[str]) -> tuple[float, float]:
    """P50 and P99 ms of one text per call (how a single voice query is split)."""
    cuts(list(texts[:10]))
    times = []
    for t in texts:
        t0 = time.perf_counter()
        cuts([t])
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    return round(statistics.median(times), 2), round(times[int(0.99 * (len(times) - 1))], 2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", type=Path, default=ROOT / "checkpoints" / "splitter")
    parser.add_argument("--scorer", type=Path, default=ROOT / "checkpoints" / "request_scorer")
    parser.add_argument("--intent-weight", type=float, default=1.0)
    parser.add_argument("--teachers", type=Path, default=ROOT / "outputs" / "splitter" / "teachers")
    parser.add_argument("--dev-dir", type=Path, default=ROOT / "outputs" / "splitter" / "dev")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-runtimes", action="store_true", help="only torch fp32 for the student")
    args = parser.parse_args(argv)
    dev = load_dev(args.dev_dir)
    texts = ["".join(r) for r in dev["requests"]]

    systems: dict[str, Cuts] = {"punct (rules)": lambda ts: [punct_cuts(t) for t in ts]}
    teacher_dirs = sorted(p for p in args.teachers.glob("t*") if (p / "splitter.json").is_file())
    featurize = gazetteer_featurizer(pipeline_gazetteer()[1])   # what a slot-fused tagger reads (others: unused)
    teachers = [Splitter.from_pretrained(p, precision="fp32", featurize=featurize) for p in teacher_dirs]
    for path, t in zip(teacher_dirs, teachers, strict=True):
        systems[f"teacher {path.name}"] = t.cuts
    if len(teachers) > 1:
        systems["ensemble"] = SplitterEnsemble(teachers).cuts
    student = Splitter.from_pretrained(args.student, precision="fp32", featurize=featurize)
    systems["student"] = student.cuts
    scorer = RequestScorer.from_pretrained(args.scorer)
    systems.update(joint_systems(student, scorer, args.intent_weight))
    cache = tempfile.TemporaryDirectory()
    if not args.skip_runtimes:
        systems["student bf16"] = Splitter.from_pretrained(args.student, precision="auto", featurize=featurize).cuts
        for backend in ("onnx", "onnx-int8"):
            systems[f"student {backend}"] = Splitter.from_pretrained(args.student, backend=backend,
                                                                     cache_dir=cache.name, featurize=featurize).cuts
        from pipeline.pipeline import Pipeline

        shipped = Pipeline.from_config(overrides=[
            "splitter=joint", f"splitter.checkpoint={args.student}", f"splitter.scorer_checkpoint={args.scorer}",
            "runtime=onnx-int8", f"paths.cache={cache.name}", "segmenter=none", "slots=none", "intent=none",
            "reply=none"])
        systems["splitter=joint, onnx-int8"] = shipped.stage("splitter").model.cuts

    rows, results = [], {}
    for name, cuts in systems.items():
        scores = {s: score_cuts(cuts, dev[s]) for s in ALL_SETS}
        rate = speed(cuts, texts, args.repeats)
        wrong = round(1 - scores["lone"]["exact"], 4)
        p50, p99 = batch1_ms(cuts, texts[:300])
        results[name] = {**{s: scores[s]["f1"] for s in SETS}, "lone_wrong_cut": wrong,
                         "requests_exact": scores["requests"]["exact"], "smp2017_exact": scores["smp2017"]["exact"],
                         "chars_per_s": round(rate),
                         "batch1_p50_ms": p50, "batch1_p99_ms": p99}
        rows.append((name, *(f"{scores[s]['precision']:.4f} / {scores[s]['recall']:.4f} / {scores[s]['f1']:.4f}"
                             for s in SETS), f"{wrong:.2%}", f"{scores['requests']['exact']:.4f}",
                     f"{scores['smp2017']['exact']:.4f}", f"{rate:,.0f}", f"{p50} / {p99}"))
    cache.cleanup()
    metrics: dict[str, object] = {"bench": "split", "systems": results,
                                  "records": {s: len(dev[s]) for s in ALL_SETS}}
    if "ensemble" in results:
        ens, stu = results["ensemble"], results["student"]
        metrics["student_vs_ensemble_f1"] = {s: round(stu[s] / ens[s], 4) if ens[s] else None for s in SETS}
        metrics["student_speedup_vs_ensemble"] = round(stu["chars_per_s"] / ens["chars_per_s"], 2)
    joint = results["joint: scorer + lexicon entries"]
    metrics["joint_vs_student"] = {s: round(joint[s] - results["student"][s], 4) for s in SETS}
    print_report(("system", *(f"{s} P / R / F1" for s in SETS), "lone wrong cut", "requests exact",
                  "smp2017 exact", "chars/s", "batch-1 ms P50 / P99"),
                 rows, metrics)
    (ROOT / "outputs").mkdir(exist_ok=True)
    (ROOT / "outputs" / "bench_split.json").write_text(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
