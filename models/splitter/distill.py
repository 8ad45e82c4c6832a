"""``duihua train splitter-distill``: teachers -> ensemble soft labels -> a smaller student.

1. Train each teacher in ``distill.teachers`` (its own seed and depth; each sees its own synthetic sample)
   into ``distill.teachers_dir/t<i>``. A teacher already there (``train_result.json`` written) is reused, so
   a killed run resumes where it stopped.
2. Average the teachers' boundary probabilities (``SplitterEnsemble``) over the student's data: the
   training sample plus ``distill.extra_examples`` further synthetic joins. Averaging smooths each teacher's
   idiosyncratic errors, and the soft targets say *how* sure a boundary is, which hard 0/1 labels cannot.
3. Train the student (``model.encoder_layers``, fewer than the teachers) on
   ``soft_weight * BCE(soft) + (1 - soft_weight) * BCE(hard)`` into ``output_dir``.
4. Score every teacher, the ensemble and the student on the same dev sets, same run, same machine; the table
   goes into the student's model card and ``train_result.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from models.common.distill import (
    RESULT_FILE,
    cached_labels,
    check_teachers,
    teacher_config,
    train_or_reuse,
    weights_key,
)
from models.lexicon.features import Featurizer
from models.splitter.features import boundary_labels
from models.splitter.inference import Splitter, SplitterEnsemble
from models.splitter.modeling import WEIGHTS_FILE
from models.splitter.synth import Example
from models.splitter.train import (
    check_config,
    dev_scores,
    example_tags,
    featurizer,
    prepare,
    sample,
    summary,
    train_model,
)


def soft_labels(ensemble: SplitterEnsemble, examples: Sequence[Example], batch: int = 2048,
                featurize: Featurizer | None = None) -> list[list[float]]:
    """The ensemble's mean boundary probability per model character (the last one is never labelled); a
    slot-fused ensemble sees every tag (the student's tag dropout is its own)."""
    out: list[list[float]] = []
    for i in tqdm(range(0, len(examples), batch), desc="soft labels", unit="batch", disable=None):
        part = examples[i:i + batch]
        tags = example_tags(part, featurize) if featurize is not None and ensemble.reads_tags else None
        out += ensemble.probabilities([boundary_labels(ex)[0] for ex in part], tags)
    return out


def distill(cfg: Mapping[str, Any], callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    spec = cfg["distill"]
    check_teachers(spec)
    check_config(cfg)
    t0 = time.time()
    data = cfg["data"]
    train_groups, sets = prepare(cfg)
    eval_examples = sets["mixed"][: data["eval_examples"]]
    featurize = featurizer(cfg)

    teachers, teacher_stats = [], []
    for i, teacher_spec in enumerate(spec["teachers"]):
        tcfg = teacher_config(cfg, teacher_spec, i)
        folder = Path(tcfg["output_dir"])

        def train_teacher(tcfg: dict[str, Any] = tcfg, folder: Path = folder) -> dict[str, Any]:
            examples = sample(cfg, train_groups, data["train_examples"], tcfg["seed"])
            return train_model(tcfg, examples, eval_examples, folder, Path(tcfg["work_dir"]), callbacks=callbacks)[1]

        stats = train_or_reuse(folder, train_teacher, f"teacher t{i}")
        teachers.append(Splitter.from_pretrained(folder, threshold=cfg["threshold"], precision="auto",
                                                 featurize=featurize))
        teacher_stats.append(stats)
    ensemble = SplitterEnsemble(teachers, threshold=cfg["threshold"])

    examples = sample(cfg, train_groups, data["train_examples"], cfg["seed"])
    examples += sample(cfg, train_groups, spec["extra_examples"], cfg["seed"] + 1)
    weights = [Path(spec["teachers_dir"]) / f"t{i}" / WEIGHTS_FILE for i in range(len(teachers))]
    key = weights_key(f"{cfg['seed']}-{len(examples)}", weights)  # retrained teachers: relabel
    soft = cached_labels(Path(cfg["work_dir"]) / "soft_labels.pt", key,
                         lambda: soft_labels(ensemble, examples, featurize=featurize))
    output_dir = Path(cfg["output_dir"])
    student, stats = train_model(cfg, examples, eval_examples, output_dir, Path(cfg["work_dir"]) / "student",
                                 soft=soft, callbacks=callbacks)

    # the comparison: fp32 torch for everyone, so the speed ratio is the models' and not the runtime's
    for t in teachers:
        t.precision = "fp32"
    comparison = {f"teacher t{i}": dev_scores(t, sets) for i, t in enumerate(teachers)}
    comparison["ensemble"] = dev_scores(ensemble, sets)
    comparison["student"] = dev_scores(student, sets)
    result = {"dev": comparison["student"], "comparison": comparison, **stats,
              "teachers": [{"seed": s["seed"], "layers": st.get("layers"), "train_runtime_s": st.get("train_runtime_s")}
                           for s, st in zip(spec["teachers"], teacher_stats, strict=True)],
              "wall_s": round(time.time() - t0, 1)}
    (output_dir / RESULT_FILE).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    from models.splitter.model_card import write_model_card

    write_model_card(output_dir, cfg, result)
    return summary(result)
