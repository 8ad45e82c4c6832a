"""Effect of each PKU -> MSR coarse-view rule on coarse (MSR) dev F1, measured through a dictionary segmenter.

Training the neural segmenter once per rule subset would take hours on 2 cores, so each rule is measured with
a transparent proxy that reacts to exactly what a rule changes, the word inventory of the coarse view: a
unigram max-probability segmenter (dynamic programming over words up to 10 characters) whose counts come from
the MSR training lines plus the derived PKU coarse view, scored on the MSR dev lines (the same split the
segmenter uses). Rows: no rule, each rule alone, all rules, and all rules minus one. The neural ablation
(``bench/segment_ablation.py``, variant ``no_coarse_rules``) checks the all-vs-none difference on the model.

    python bench/coarse_rules.py

Prints a table, then one JSON line.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from models.charmap import model_view
from models.segmenter.corpus import COARSE_RULES, load_views
from models.segmenter.scoring import score
from pipeline.config import load_config
from pipeline.report import print_report

MAX_WORD = 10


def fold(word: str) -> str:
    return "".join(model_view(word)[0])


class UnigramSegmenter:
    def __init__(self, sentences: Sequence[Sequence[str]]) -> None:
        self.counts = Counter(fold(w) for s in sentences for w in s)
        total = sum(self.counts.values())
        self.logp = {w: math.log(n / total) for w, n in self.counts.items()}
        self.unknown = math.log(0.1 / total)  # an unseen single character

    def cut(self, chars: Sequence[str]) -> list[str]:
        n = len(chars)
        best = [0.0] + [-math.inf] * n
        back = [0] * (n + 1)
        for end in range(1, n + 1):
            for start in range(max(0, end - MAX_WORD), end):
                word = "".join(chars[start:end])
                lp = self.logp.get(word, self.unknown if end - start == 1 else None)
                if lp is not None and best[start] + lp > best[end]:
                    best[end], back[end] = best[start] + lp, start
        words, end = [], n
        while end > 0:
            words.append("".join(chars[back[end]:end]))
            end = back[end]
        return words[::-1]


def f1_with(rules: Sequence[str], data: Path, msr_train: list, msr_dev: list) -> float:
    coarse_train = load_views(data, rules)["pku_coarse"][0]
    seg = UnigramSegmenter([*msr_train, *coarse_train])
    pred = [seg.cut(model_view("".join(s))[0]) for s in msr_dev]
    gold = [[fold(w) for w in s] for s in msr_dev]
    return score(gold, pred)["f1"]


def main() -> int:
    data = Path(load_config("pipeline").paths.data)
    views = load_views(data, [])
    msr_train, msr_dev = views["msr"]
    rules = list(COARSE_RULES)
    subsets = {"no rule": [], **{f"only {r}": [r] for r in rules}, "all rules": rules,
               **{f"all but {r}": [x for x in rules if x != r] for r in rules}}
    msr_only = UnigramSegmenter(msr_train)
    base = score([[fold(w) for w in s] for s in msr_dev],
                 [msr_only.cut(model_view("".join(s))[0]) for s in msr_dev])["f1"]
    results = {"MSR train only": base}
    for name, subset in subsets.items():
        results[name] = f1_with(subset, data, msr_train, msr_dev)
    none = results["no rule"]
    rows = [(name, f1, f"{f1 - none:+.2f}") for name, f1 in results.items()]
    print_report(("coarse view", "MSR dev F1 (dictionary proxy)", "vs no rule"), rows,
                 {"bench": "coarse_rules", "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
