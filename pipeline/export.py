"""``duihua export <stage>``: the ONNX files a neural stage runs on under ``runtime=onnx|onnx-int8``, with
their parity against eager fp32 torch.

Export goes through the same code path as the runtime (``from_pretrained(backend=...)``), so the files land
in the cache the pipeline reads (``paths.cache``/onnx/<checkpoint hash>/) and ``--output DIR`` gets copies.
Each stage is one graph with dynamic batch and sequence axes, the generator two (a decoder step with past
keys/values, and its output head); ``.int8.onnx`` is the dynamically quantized twin (int8 MatMul weights).

Parity, per backend: the largest absolute difference of the raw outputs (logits / probabilities) from eager
fp32 torch on a few real-shaped queries, and the stage's dev metric with each backend on its dev set:
intent accuracy on SMP2017 ``develop`` and the SMP2019 dev split; the slot tagger's span F1 on the dev files
``duihua train slots`` writes; reply greedy BLEU-2 on the LCCC dev
pairs; splitter boundary F1 and segmenter word F1 on the dev files ``duihua train splitter-distill`` /
``duihua train segmenter`` write under ``outputs/``. A metric whose data is not there (no ``paths.data``, dev
files not written) is skipped, with a note in its name, rather than failing the export.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.common.onnx import BACKENDS
from pipeline.errors import InputError

EXPORT_STAGES = ("splitter", "segmenter", "slots", "intent", "reply")
PROBES = ["明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度", "我想听周杰伦的稻香", "打开qq",
          "从北京南站到上海虹桥的高铁票还有吗", "你好呀今天过得怎么样", "把张三的电话发给李四"]


def max_abs_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return float(max(np.abs(np.asarray(x, np.float32) - np.asarray(y, np.float32)).max()
                     for x, y in zip(a, b, strict=True)))


def _load(stage: str, folder: Path, backend: str, cache_dir: str) -> Any:
    if stage == "splitter":
        from models.splitter.inference import Splitter
        return Splitter.from_pretrained(folder, backend=backend, cache_dir=cache_dir, precision="fp32")
    if stage == "segmenter":
        from models.segmenter.inference import Segmenter
        return Segmenter.from_pretrained(folder, backend=backend, cache_dir=cache_dir, precision="fp32")
    if stage == "intent":
        from models.intent.inference import IntentClassifier
        return IntentClassifier.from_pretrained(folder, backend=backend, cache_dir=cache_dir)
    if stage == "slots":
        from models.slots.inference import SlotTagger
        return SlotTagger.from_pretrained(folder, backend=backend, cache_dir=cache_dir)
    from models.reply.inference import ReplyGenerator
    return ReplyGenerator.from_pretrained(folder, backend=backend, cache_dir=cache_dir)


def raw_outputs(stage: str, model: Any) -> list[np.ndarray]:
    """What each backend must agree on, for the probe queries."""
    if stage == "splitter":
        from models.splitter.features import splitter_view
        return [np.asarray(p) for p in model.probabilities([splitter_view(t)[0] for t in PROBES])]
    if stage == "segmenter":
        from models.charmap import model_view
        from models.segmenter.features import collate
        batch = collate([model.encode(model_view(t)[0], "fine") for t in PROBES])
        with torch.inference_mode():
            return [model._logits(batch).float().numpy()]
    if stage == "intent":
        dom, intent, _ = model.logits(PROBES, [[] for _ in PROBES])
        return [dom, intent]
    if stage == "slots":
        return model.logits(PROBES, [[] for _ in PROBES])
    from models.reply.modeling import decode_step, encode_source
    ids, attention = model._sources([[t] for t in PROBES])
    logits, state = encode_source(model.decoder, ids, attention)
    out = [logits.numpy()]
    token = logits.argmax(-1)
    for _ in range(4):   # steps over the growing key/value cache
        step = decode_step(model.decoder, token, state)
        out.append(step.numpy())
        token = step.argmax(-1)
    return out


def dev_metric(stage: str, model: Any, cfg: Mapping[str, Any]) -> tuple[str, float | None]:
    """``(name, value)`` of the stage's dev metric for ``model`` (None where the dev set is not there)."""
    root, data = Path(cfg["paths"]["root"]), Path(cfg["paths"]["data"])
    if stage == "intent":
        from omegaconf import OmegaConf

        from models.intent.data import load_splits, missing_files
        from models.intent.scoring import score
        from models.lexicon.features import featurizer_from_config
        from pipeline.config import load_config

        train_cfg = OmegaConf.to_container(load_config("train/intent", [f"paths.data={data}"]), resolve=True)
        missing = missing_files(train_cfg["data"]["dir"])  # what load_splits reads
        if missing:
            return f"intent accuracy ({Path(train_cfg['data']['dir']) / missing[0]} not found)", None
        _, dev = load_splits(train_cfg["data"]["dir"], float(train_cfg["data"]["dev_percent"]))
        featurize, _ = featurizer_from_config(train_cfg)
        accs = []
        for name in ("smp2017", "smp2019"):
            mode = "intent" if name == "smp2019" else "domain"
            texts = [x.text for x in dev[name]]
            pred = model.predict(texts, featurize(texts), mode=mode)
            accs.append(score(dev[name], [p.label for p in pred])["accuracy"])
        return "intent accuracy SMP2017 / SMP2019 (mean)", round(float(np.mean(accs)), 2)
    if stage == "slots":
        from omegaconf import OmegaConf

        from models.lexicon.features import featurizer_from_config
        from models.slots.data import locate
        from models.slots.scoring import span_scores
        from pipeline.config import load_config
        from pipeline.evaluate.slots import read_records

        folder = root / "outputs/slots/dev"
        if not all((folder / f"{n}.jsonl").is_file() for n in ("smp2019", "crosswoz")):
            return "slot F1 ×100, tagger alone (outputs/slots/dev not written)", None
        featurize, _ = featurizer_from_config(OmegaConf.to_container(load_config("train/slots", []), resolve=True))
        f1s = []
        for name in ("smp2019", "crosswoz"):
            records = read_records(folder / f"{name}.jsonl")
            texts = [r["text"] for r in records]
            pred = model.predict(texts, featurize(texts))
            f1s.append(span_scores([locate(r["text"], r["slots"]) for r in records],
                                   [{(s.start, s.end) for s in p} for p in pred])["f1"])
        return "slot F1 ×100, tagger alone, SMP2019 / CrossWOZ (mean)", round(50 * sum(f1s), 2)
    if stage == "reply":
        from models.reply.data import dev_pairs, missing_files
        from models.reply.decoding import DecodingConfig
        from models.reply.metrics import reply_scores

        missing = missing_files(data, [])   # the multi-turn dialogues the dev pairs come from
        if missing:
            return f"reply greedy BLEU-2 ×100 ({data / missing[0]} not found)", None
        pairs = dev_pairs(data, model.limits.max_turns)
        replies = model.generate([list(p.context) for p in pairs], DecodingConfig(strategy="greedy"))
        return "reply greedy BLEU-2 ×100", round(100 * reply_scores([r.text for r in replies],
                                                                   [p.response for p in pairs])["bleu2"], 3)
    if stage == "splitter":
        from models.splitter.scoring import gold_boundaries
        from models.splitter.scoring import score as split_score
        from pipeline.evaluate.split import read_records

        path = root / "outputs/splitter/dev/requests.jsonl"
        if not path.is_file():
            return "splitter boundary F1 ×100 (outputs/splitter/dev/requests.jsonl not written)", None
        if model.reads_tags and model.featurize is None:   # a slot-fused tagger, fed its training lexicons
            from omegaconf import OmegaConf

            from models.lexicon.features import featurizer_from_config
            from pipeline.config import load_config

            model.featurize = featurizer_from_config(OmegaConf.to_container(load_config("train/splitter", []),
                                                                            resolve=True))[0]
        records = read_records(path)
        texts = ["".join(r) for r in records]
        pred = [{end for _, end in spans if end < len(t)} for t, spans in zip(texts, model.split(texts), strict=True)]
        return "splitter boundary F1 ×100", round(100 * split_score([gold_boundaries(r) for r in records],
                                                                    pred)["f1"], 2)
    from models.segmenter.scoring import score as segment_score
    from pipeline.evaluate.segment import read_gold

    path = root / "outputs/segmenter/dev/pku_fine.txt"
    if not path.is_file():
        return "segmenter fine F1 (outputs/segmenter/dev/pku_fine.txt not written)", None
    gold = read_gold(path)
    texts = ["".join(words) for words in gold]
    pred = [[t[a:b] for a, b in spans] for t, spans in zip(texts, model.segment(texts, "fine"), strict=True)]
    return "segmenter fine F1", round(segment_score(gold, pred, None)["f1"], 2)


def export_stage(stage: str, checkpoint: Path, cfg: Mapping[str, Any], output: Path | None = None,
                 with_metric: bool = True, log: Callable[[str], None] = print) -> tuple[list[tuple], dict[str, Any]]:
    """Export ``checkpoint`` for both ONNX backends; rows of the parity table and the metrics."""
    if stage not in EXPORT_STAGES:
        raise InputError(f"duihua export: stage must be one of {', '.join(EXPORT_STAGES)}, got {stage!r}")
    if not checkpoint.is_dir():
        raise InputError(f"checkpoint folder not found: {checkpoint}")
    cache = str(cfg["paths"]["cache"])
    rows, metrics = [], {"stage": stage, "checkpoint": str(checkpoint)}
    reference = None
    for backend in BACKENDS:
        t0 = time.perf_counter()
        try:
            model = _load(stage, checkpoint, backend, cache)
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from exc
        load_s = time.perf_counter() - t0
        outputs = raw_outputs(stage, model)
        reference = outputs if reference is None else reference
        diff = max_abs_diff(reference, outputs)
        files = sorted(_onnx_files(model))
        size = sum(f.stat().st_size for f in files) / 1e6
        name, value = dev_metric(stage, model, cfg) if with_metric else ("dev metric (skipped)", None)
        if output is not None and files:
            output.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copy2(f, output / f.name)
        rows.append((backend, ", ".join(f.name for f in files) or "(checkpoint)", round(size, 1) if files else "",
                     f"{diff:.2e}", "–" if value is None else value, round(load_s, 1)))
        metrics[f"{backend}_max_abs_diff"] = round(diff, 6)
        metrics[f"{backend}_dev_metric"] = value
        metrics["dev_metric"] = name
        if files:
            metrics[f"{backend}_files"] = [str(f) for f in files]
    return rows, metrics


def _onnx_files(model: Any) -> list[Path]:
    runners = [getattr(model, "onnx", None)]
    decoder = getattr(model, "decoder", None)
    runners += [getattr(decoder, "step", None), getattr(decoder, "head", None)]
    return [r.path for r in runners if r is not None and hasattr(r, "path")]
