"""Choose the joint splitter's weights on a tuning sample that no reported score uses.

The tuning joins are drawn from the dev groups with seeds of their own (``DEV_SEED + 7``, ``+ 8``), so the
dev files ``bench/split.py`` reports on are not what the weights were fitted to (the groups are shared: no
training group is used either way). Objective: requests F1 + mixed F1 + share of lone requests left whole.
Boundary probabilities and piece scores are computed once and memoised, so the grid costs little more than
one pass.

    python bench/split_tune.py [--student checkpoints/splitter] [--scorer checkpoints/request_scorer]

Prints the grid's best rows, then one JSON line with the best setting.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from models.splitter.inference import BoundaryTagger, Splitter
from models.splitter.joint import JointDecoder, JointSettings
from models.splitter.scorer import RequestScorer
from models.splitter.scoring import score_cuts
from models.splitter.synth import synthesize
from models.splitter.train import DEV_SEED, counts, load_groups
from pipeline.config import ROOT, load_config
from pipeline.report import print_report


class Memo(BoundaryTagger):
    """A tagger whose probabilities are computed once per sequence."""

    def __init__(self, tagger: BoundaryTagger) -> None:
        self.tagger, self.cache = tagger, {}
        self.max_chars, self.margin, self.threshold = tagger.max_chars, tagger.margin, tagger.threshold

    def probabilities(self, sequences: Sequence[Sequence[str]]) -> list[list[float]]:
        todo = list({tuple(s) for s in sequences if tuple(s) not in self.cache})
        for key, p in zip(todo, self.tagger.probabilities(todo) if todo else [], strict=True):
            self.cache[key] = p
        return [self.cache[tuple(s)] for s in sequences]


def memo_scores(fn):  # noqa: ANN001, ANN201
    cache: dict[str, float] = {}

    def score(texts: Sequence[str]) -> list[float]:
        todo = list({t for t in texts if t not in cache})
        cache.update(zip(todo, fn(todo) if todo else [], strict=True))
        return [cache[t] for t in texts]

    return score


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--student", type=Path, default=ROOT / "checkpoints" / "splitter")
    parser.add_argument("--scorer", type=Path, default=ROOT / "checkpoints" / "request_scorer")
    parser.add_argument("--examples", type=int, default=1000)
    args = parser.parse_args(argv)
    data = OmegaConf.to_container(load_config("train/splitter", []), resolve=True)["data"]
    dev_groups = load_groups(data)[1]
    c = counts(data)
    tune = {"requests": synthesize(dev_groups, {"requests": 1}, c, args.examples, DEV_SEED + 7, data["max_chars"]),
            "mixed": synthesize(dev_groups, dict(data["mix"]), c, args.examples, DEV_SEED + 8, data["max_chars"])}
    tagger = Memo(Splitter.from_pretrained(args.student, precision="fp32"))
    scorer = memo_scores(RequestScorer.from_pretrained(args.scorer).log_probabilities)
    rows = []
    grid = itertools.product([0.5, 1.0, 1.5, 2.0, 3.0], [-1.0, -0.5, 0.0, 0.5, 1.0], [0.02, 0.05, 0.1])
    for weight, bias, cmin in grid:
        settings = JointSettings(candidate_min=cmin, max_span=8, boundary_weight=1.0, cut_bias=bias)
        cuts = JointDecoder(tagger, [(scorer, weight)], settings).cuts
        req, mixed = score_cuts(cuts, tune["requests"]), score_cuts(cuts, tune["mixed"])
        lone = [r for r in tune["requests"] if len(r) == 1]
        whole = score_cuts(cuts, lone)["exact"]
        rows.append((weight, bias, cmin, req["f1"], mixed["f1"], whole, round(req["f1"] + mixed["f1"] + whole, 4)))
    rows.sort(key=lambda r: -r[-1])
    base = [score_cuts(tagger.cuts, tune[s])["f1"] for s in ("requests", "mixed")]
    best = rows[0]
    metrics = {"bench": "split_tune", "boundary_alone": {"requests": base[0], "mixed": base[1]},
               "best": {"scorer_weight": best[0], "cut_bias": best[1], "candidate_min": best[2],
                        "requests_f1": best[3], "mixed_f1": best[4], "lone_whole": best[5]}}
    print_report(("scorer_weight", "cut_bias", "candidate_min", "requests F1", "mixed F1", "lone whole", "sum"),
                 rows[:12], metrics)
    (ROOT / "outputs").mkdir(exist_ok=True)
    (ROOT / "outputs" / "bench_split_tune.json").write_text(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
