"""Choose the joint splitter's weights on a tuning sample that no reported score uses.

The tuning joins are drawn from the dev groups with seeds of their own (``DEV_SEED + 7``, ``+ 8``), so the
joins ``bench/split.py`` reports on are not what the weights were fitted to. The requests are the same dev
requests, though (no training group is used either way), and the lone-request term uses every one of them:
the reported dev gains are somewhat optimistic, and held-out data is the real check. Objective: requests F1
+ mixed F1 + share of lone requests left whole.
Boundary probabilities and piece scores are computed once and memoised, so the grid costs little more than
one pass.

    python bench/split_tune.py [--student checkpoints/splitter] [--scorer checkpoints/request_scorer] [--intent]
                               [--boundary-weight W ...] [--cut-bias B ...] [--intent-weight W ...] ...

Prints the grid's best rows, then one JSON line with the best setting.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from models.lexicon.features import gazetteer_featurizer, selected_dirs
from models.lexicon.gazetteer_load import load_gazetteer
from models.splitter.inference import BoundaryTagger, Splitter, Tags
from models.splitter.joint import JointDecoder, JointSettings, entity_ends, inside_entity, intent_evidence
from models.splitter.scorer import RequestScorer
from models.splitter.scoring import score_cuts
from models.splitter.synth import synthesize
from models.splitter.train import DEV_SEED, counts, dev_sets, load_groups
from pipeline.config import ROOT, load_config
from pipeline.report import print_report


class Memo(BoundaryTagger):
    """A tagger whose probabilities are computed once per sequence (and its gazetteer tags)."""

    def __init__(self, tagger: BoundaryTagger) -> None:
        self.tagger, self.cache = tagger, {}
        self.max_chars, self.margin, self.threshold = tagger.max_chars, tagger.margin, tagger.threshold
        self.reads_tags, self.featurize = tagger.reads_tags, tagger.featurize

    def probabilities(self, sequences: Sequence[Sequence[str]], tags: Sequence[Tags] | None = None
                      ) -> list[list[float]]:
        rows = [[] for _ in sequences] if tags is None else tags
        keys = [(tuple(s), tuple(map(tuple, t))) for s, t in zip(sequences, rows, strict=True)]
        todo = list({k: i for i, k in enumerate(keys) if k not in self.cache}.items())
        if todo:
            seqs = [sequences[i] for _, i in todo]
            got = self.tagger.probabilities(seqs) if tags is None else self.tagger.probabilities(
                seqs, [tags[i] for _, i in todo])
            self.cache.update(zip((k for k, _ in todo), got, strict=True))
        return [self.cache[k] for k in keys]


def memo(fn):  # noqa: ANN001, ANN201
    """Piece or gap evidence computed once per text."""
    cache: dict[str, object] = {}

    def score(texts: Sequence[str]) -> list:
        todo = list({t for t in texts if t not in cache})
        cache.update(zip(todo, fn(todo) if todo else [], strict=True))
        return [cache[t] for t in texts]

    return score


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", type=Path, default=ROOT / "checkpoints" / "splitter")
    parser.add_argument("--scorer", type=Path, default=ROOT / "checkpoints" / "request_scorer")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--intent", action="store_true", help="also grid the intent confidence's weight")
    parser.add_argument("--max-span", type=int, nargs="+", default=[8])
    grid_values = (("--boundary-weight", [0.75, 1.0]), ("--scorer-weight", [1.0]), ("--cut-bias", [0.0, 0.5]),
                   ("--intent-weight", [2.0]), ("--entity-end-weight", [0.0, 0.5]))
    for flag, default in grid_values:
        parser.add_argument(flag, type=float, nargs="+", default=default, help=f"grid values (default {default})")
    args = parser.parse_args(argv)
    data = OmegaConf.to_container(load_config("train/splitter", []), resolve=True)["data"]
    dev_groups = load_groups(data)[1]
    c = counts(data)
    tune = {"requests": synthesize(dev_groups, {"requests": 1}, c, args.examples, DEV_SEED + 7, data["max_chars"]),
            "mixed": synthesize(dev_groups, dict(data["mix"]), c, args.examples, DEV_SEED + 8, data["max_chars"]),
            "lone": dev_sets(dev_groups, data)["lone"]}
    lexicons = selected_dirs(dict(load_config("pipeline", []).lexicons.domains))
    gazetteer = load_gazetteer(lexicons, str(ROOT / "outputs" / "cache"))
    tagger = Memo(Splitter.from_pretrained(args.student, precision="fp32", featurize=gazetteer_featurizer(gazetteer)))
    scorer = memo(RequestScorer.from_pretrained(args.scorer).log_probabilities)
    find = memo(lambda texts: [[(h.start, h.end) for h in gazetteer.find(t)] for t in texts])
    entity = memo(inside_entity(lambda t: find([t])[0]))
    ends = memo(entity_ends(lambda t: find([t])[0]))
    intent = (memo(intent_evidence(ROOT / "checkpoints" / "intent", lexicons, str(ROOT / "outputs" / "cache")))
              if args.intent else None)
    rows = []
    grid = itertools.product(args.boundary_weight, args.scorer_weight, args.cut_bias, [0.05],
                             args.intent_weight if intent else [0.0], [5.0], args.entity_end_weight, args.max_span)
    for boundary, weight, bias, cmin, intent_weight, entity_weight, end_weight, span in grid:
        settings = JointSettings(candidate_min=cmin, max_span=span, boundary_weight=boundary, cut_bias=bias)
        evidence = [(scorer, weight), *([(intent, intent_weight)] if intent else [])]
        cuts = JointDecoder(tagger, evidence, settings, [(entity, entity_weight)], [(ends, end_weight)]).cuts
        req, mixed = score_cuts(cuts, tune["requests"]), score_cuts(cuts, tune["mixed"])
        whole = score_cuts(cuts, tune["lone"])["exact"]
        total = round(req["f1"] + mixed["f1"] + whole, 4)
        rows.append((boundary, weight, bias, cmin, intent_weight, entity_weight, end_weight, span, req["f1"],
                     mixed["f1"], whole, total))
    rows.sort(key=lambda r: -r[-1])
    base = [score_cuts(tagger.cuts, tune[s])["f1"] for s in ("requests", "mixed")]
    best = rows[0]
    metrics = {"bench": "split_tune", "boundary_alone": {"requests": base[0], "mixed": base[1]},
               "best": {"boundary_weight": best[0], "scorer_weight": best[1], "cut_bias": best[2],
                        "candidate_min": best[3], "intent_weight": best[4], "entity_weight": best[5],
                        "entity_end_weight": best[6], "max_span": best[7], "requests_f1": best[8],
                        "mixed_f1": best[9], "lone_whole": best[10]}}
    print_report(("boundary_weight", "scorer_weight", "cut_bias", "candidate_min", "intent_weight",
                  "entity_weight", "end_weight", "max_span", "requests F1", "mixed F1",
                  "lone whole", "sum"),
                 rows[:12], metrics)
    (ROOT / "outputs").mkdir(exist_ok=True)
    (ROOT / "outputs" / "bench_split_tune.json").write_text(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
