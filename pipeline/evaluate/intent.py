"""``duihua eval intent --data FILE [--checkpoint DIR]``: intent accuracy on labelled queries.

FILE is either an SMP2019-style JSON array (``text``, ``domain``, ``intent``, ``slots``; the label is
``domain/intent``) or SMP2017-style JSONL (``query``, ``label``; the label is the domain), told apart by the
first character. Each text is classified as one sentence, with the configured slot tagger feeding the model,
exactly as the pipeline does it, decoded by the head trained on the file's label scheme (``intent`` for
SMP2019, ``domain`` for SMP2017). Scores use the argmax label (no ``unknown`` threshold), and are percentages:
``accuracy`` on the file's label, ``domain_accuracy``, ``intent_accuracy`` (SMP2019 only, else null) and
``macro_f1``; ``unknown_rate`` is the share the configured threshold would turn into ``unknown``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from models.intent.data import DataFormatError, read_labelled
from models.intent.scoring import score
from pipeline.errors import ConfigError, InputError
from pipeline.pipeline import Pipeline
from pipeline.report import print_report
from pipeline.schema import PipelineResult, Query
from pipeline.stages.intent import SlotAwareIntentClassifier


def evaluate(data: Path, overrides: Sequence[str]) -> int:
    try:
        examples, fmt = read_labelled(data)
    except (DataFormatError, UnicodeDecodeError) as exc:
        raise InputError(str(exc)) from exc
    # one query = one sentence: the splitter and segmenter stay out of the way of what is scored
    pipe = Pipeline.from_config(overrides=["splitter=whole", "segmenter=none", "reply=none", *overrides])
    if "intent" not in pipe.stage_names:
        raise ConfigError("the configured pipeline has no intent stage (intent=none); use intent=slot_attention")
    stage = pipe.stage("intent")
    threshold = stage.threshold if isinstance(stage, SlotAwareIntentClassifier) else 0.0
    if isinstance(stage, SlotAwareIntentClassifier):
        stage.threshold = 0.0   # score the argmax; the threshold's effect is reported as unknown_rate
        stage.decode = "intent" if fmt == "smp2019" else "domain"   # the head trained on the file's scheme
    t0 = time.perf_counter()
    docs = pipe.batch([Query(text=x.text) for x in examples])
    elapsed = time.perf_counter() - t0
    preds = [_prediction(d) for d in docs]
    metrics = score(examples, [p.label for p in preds])
    metrics["unknown_rate"] = round(100.0 * sum(p.score < threshold for p in preds) / len(preds), 2)
    metrics["queries_per_s"] = round(len(examples) / elapsed, 1) if elapsed else None
    print_report(("metric", "value"), list(metrics.items()), {"stage": "intent", "format": fmt, **metrics})
    return 0


def _prediction(doc: PipelineResult):  # noqa: ANN202 - IntentPrediction
    sentence = doc.sentences[0]
    if sentence.intent is None:
        raise ConfigError("the intent stage left a sentence unclassified")
    return sentence.intent
