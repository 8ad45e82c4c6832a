"""``duihua train intent``: the slot-aware intent classifier on SMP2017 + SMP2019, with a model card.

Steps: read both datasets and carve the dev splits (``data.py``) -> gazetteer ``char_slots`` for every text
through ``models.lexicon.features`` (the functions the pipeline's slot stage calls, so training sees what
inference sees) -> label spaces from the training data -> encoder + fusion + heads -> ``run_training`` (HF Trainer,
fixed epochs, checkpoints, resume after a kill) -> temperatures fitted on dev -> dev scores with and without
lexicons -> fp16 checkpoint, ``train_result.json`` and the model card.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.common.char_ids import CharIds
from models.common.errors import TrainConfigError
from models.common.finetune import apply_finetune, check_options, finetune_kwargs
from models.common.slot_tags import SlotTagVocab, slot_types_of
from models.common.training import ListDataset, run_record, run_training, save_trained, set_seed, write_train_result
from models.encoder.modeling import load_encoder
from models.intent.augment import drop_tags, swap_entities
from models.intent.calibration import fit_temperature
from models.intent.data import INTENT_SEP, IntentExample, flatten, load_splits, missing_files
from models.intent.features import IGNORE, collate, encode_examples
from models.intent.inference import IntentClassifier, unused_token_ids
from models.intent.modeling import FUSIONS, WEIGHTS_FILE, HeadConfig, build_model
from models.intent.scoring import expected_calibration_error, score
from models.intent.shots import sample_shots

log = logging.getLogger(__name__)
Featurizer = Callable[[Sequence[str]], list[list[list[str]]]]
SoftLabeler = Callable[[Sequence[str], Sequence], list[tuple[np.ndarray, np.ndarray]]]


def check_config(cfg: Mapping[str, Any]) -> None:
    """Fail in a second, before data loading, on what a user can get wrong."""
    head = cfg["model"]["head"]
    finetune = cfg.get("finetune") or {}
    check_options(finetune.get("method", "full"), finetune)
    if finetune.get("method") in ("pet", "ptuning"):   # scored through an MLM head this classifier has not got
        raise TrainConfigError(f"finetune.method={finetune['method']} trains cloze models, not this classifier: "
                               f"`duihua train intent-fewshot finetune.method={finetune['method']}`")
    shots = cfg["data"].get("shots")
    if shots is not None and int(shots) < 1:
        raise TrainConfigError(f"data.shots must be >= 1 (examples per class), got {shots}")
    if head.get("fusion", "gated") not in FUSIONS:
        raise TrainConfigError(f"model.head.fusion: expected one of {FUSIONS}, got {head.get('fusion')!r}")
    if not 0 < float(cfg["data"]["dev_percent"]) < 100:
        raise TrainConfigError(f"data.dev_percent must be in (0, 100), got {cfg['data']['dev_percent']}")
    if int(cfg["data"]["max_chars"]) > 250:
        raise TrainConfigError(f"data.max_chars={cfg['data']['max_chars']}: at most 250 (256 encoder positions)")
    encoder = str(cfg["encoder"]["pretrained"])
    if (encoder.startswith(("/", ".")) or Path(encoder).parent != Path(".")) and not Path(encoder).is_dir():
        raise TrainConfigError(f"encoder.pretrained={encoder}: folder not found (train it with "
                               "`duihua train pretrain`, or use encoder=hf encoder.pretrained=NAME)")
    missing = missing_files(cfg["data"]["dir"])
    if missing:
        raise TrainConfigError(f"data.dir={cfg['data']['dir']}: missing {missing} (see ../shared/data/PROVENANCE.md)")


def label_spaces(domain_examples: Sequence[IntentExample], train: Sequence[IntentExample]
                 ) -> tuple[list[str], list[str]]:
    """Sorted domains (of the domain head's examples) and ``domain/intent`` labels (examples with an intent)."""
    return sorted({x.domain for x in domain_examples}), sorted({x.label for x in train if x.intent is not None})


def fit_temperatures(clf: IntentClassifier, dev: Sequence[IntentExample], slots: Sequence,
                     shared_domains: bool) -> dict[str, float]:
    """One temperature per head, on the dev examples that head has labels for."""
    dom, intent, _ = clf.logits([x.text for x in dev], slots)
    d_idx = np.array([clf.domain_index.get(x.domain, -1) if x.intent is None or shared_domains else -1
                      for x in dev])
    i_idx = np.array([clf.head.intents.index(x.label) if x.intent is not None and x.label in clf.head.intents
                      else -1 for x in dev])
    return {"domain_temperature": fit_temperature(dom[d_idx >= 0], d_idx[d_idx >= 0]),
            "intent_temperature": fit_temperature(intent[i_idx >= 0], i_idx[i_idx >= 0])}


def write_dev_sets(dev: Mapping[str, Sequence[IntentExample]], folder: Path) -> None:
    """The dev splits as ``duihua eval intent`` files, in each dataset's own format (the SMP2019 one keeps its
    slot annotation, so ``duihua eval slots`` reads it too)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, examples in dev.items():
        if name == "smp2019":
            records = [{"text": x.text, "domain": x.domain, "intent": x.intent, "slots": x.slots or {}}
                       for x in examples]
            (folder / "smp2019.json").write_text(json.dumps(records, ensure_ascii=False, indent=0), "utf-8")
        else:
            lines = [json.dumps({"query": x.text, "label": x.domain}, ensure_ascii=False) for x in examples]
            (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def dev_scores(clf: IntentClassifier, dev: Mapping[str, Sequence[IntentExample]], slots: Mapping[str, Sequence]
               ) -> dict[str, Any]:
    """Per dataset: scores with lexicons, without (``no_lexicons``), ECE, and the mean gate."""
    out: dict[str, Any] = {}
    for name, examples in dev.items():
        texts = [x.text for x in examples]
        t0 = time.perf_counter()
        mode = "intent" if any(x.intent is not None for x in examples) else "domain"   # the dataset's scheme
        pred = clf.predict(texts, slots[name], mode=mode)
        elapsed = time.perf_counter() - t0
        blind = clf.predict(texts, None, mode=mode)
        result = score(examples, [p.label for p in pred])
        result["no_lexicons"] = score(examples, [p.label for p in blind])["accuracy"]
        result["ece"] = expected_calibration_error([p.score for p in pred], [p.label == x.label
                                                                            for p, x in zip(pred, examples,
                                                                                            strict=True)])
        gates = [v for p in pred if p.gates for v in p.gates]
        result["mean_gate"] = round(float(np.mean(gates)), 4) if gates else None
        result["queries_per_s"] = round(len(texts) / elapsed, 1) if elapsed else None
        out[name] = result
    return out


@dataclass
class TrainingData:
    examples: list[IntentExample]          # originals, then entity-swapped copies
    slots: list                            # their char_slots (after tag dropout)
    slot_types: list[str]                  # slot types the original examples use
    originals: dict[str, int]              # original training examples per dataset
    dev: dict[str, list[IntentExample]]
    dev_slots: dict[str, list]


def training_data(cfg: Mapping[str, Any], featurize: Featurizer, entity_pool: Mapping[str, Sequence[str]] | None
                  ) -> TrainingData:
    """Training examples with their (augmented) tags, and the dev sets with theirs. The dev sets are also
    written to ``dev_dir`` as ``duihua eval intent`` files."""
    data = cfg["data"]
    train_groups, dev = load_splits(data["dir"], float(data["dev_percent"]))
    examples = flatten(train_groups, data["datasets"])
    if data.get("shots"):
        examples, unlabeled = sample_shots(examples, int(data["shots"]), int(cfg["seed"]))
        log.warning("intent: data.shots=%s keeps %d labelled examples (%d left unlabeled)", data["shots"],
                    len(examples), len(unlabeled))
        keep = set(examples)
        train_groups = {k: [x for x in v if x in keep] for k, v in train_groups.items()}
    dev = {k: v for k, v in dev.items() if k in data["datasets"]}
    if not examples:
        raise TrainConfigError(f"data.datasets={data['datasets']}: no training examples")
    log.warning("intent: featurizing %d train / %d dev texts with the gazetteer", len(examples),
                sum(map(len, dev.values())))
    write_dev_sets(dev, Path(cfg["dev_dir"]))
    slots = featurize([x.text for x in examples])
    slot_types = slot_types_of(slots)   # before dropout: a rare type must not vanish
    swap = data.get("entity_swap") or {}
    if entity_pool and int(swap.get("copies", 0)):
        extra, extra_slots = swap_entities(examples, slots, entity_pool, featurize, int(swap["copies"]),
                                           int(swap.get("min_chars", 2)), int(cfg["seed"]))
        log.warning("intent: entity swap added %d training queries", len(extra))
        examples, slots = [*examples, *extra], [*slots, *extra_slots]
    if float(data.get("tag_dropout", 0.0)):
        slots = drop_tags(slots, float(data["tag_dropout"]), int(cfg["seed"]))
    originals = {k: len(v) for k, v in train_groups.items() if k in data["datasets"]}
    return TrainingData(examples, slots, slot_types, originals, dev,
                        {k: featurize([x.text for x in v]) for k, v in dev.items()})


def train(cfg: Mapping[str, Any], featurize: Featurizer, entity_pool: Mapping[str, Sequence[str]] | None = None,
          callbacks: Sequence[Any] = (), soft_labels: SoftLabeler | None = None) -> dict[str, Any]:
    """Train into ``output_dir``. ``featurize`` maps texts to ``char_slots`` and ``entity_pool`` lists lexicon
    surfaces per slot type (both from ``models.lexicon.features``); without a pool there is no entity swap.
    ``soft_labels`` (distillation, ``models/intent/distill.py``) gives the teachers' domain and intent
    probabilities for each training input, as the student will see it (augmented). Longer than the other
    functions on purpose: its steps share the label spaces, vocabularies and model, and it reads top to bottom
    as the recipe the model card documents."""
    check_config(cfg)
    finetune = cfg.get("finetune") or {}
    method = finetune.get("method", "full")
    t0 = time.time()
    set_seed(cfg["seed"])
    data = cfg["data"]
    td = training_data(cfg, featurize, entity_pool)
    train_examples, dev, dev_slots = td.examples, td.dev, td.dev_slots
    # the domain head learns the domain-only scheme (SMP2017); with shared_domains, intent-labelled examples
    # (SMP2019) train it too, which pays only where the two schemes agree
    shared = bool(data.get("shared_domains", False))
    domains, intents = label_spaces([x for x in train_examples if x.intent is None or shared] or train_examples,
                                    train_examples)
    head = HeadConfig(domains=domains, intents=intents, slot_types=td.slot_types,
                      lexicon_types=sorted(entity_pool) if entity_pool is not None else None, **cfg["model"]["head"])
    encoder, tokenizer = load_encoder(cfg["encoder"]["pretrained"])
    char_ids = CharIds.from_tokenizer(tokenizer)
    vocab = SlotTagVocab(head.slot_types, head.max_tags)
    unused = unused_token_ids(char_ids)
    d_index, i_index = {d: i for i, d in enumerate(domains)}, {x: i for i, x in enumerate(intents)}

    def encode(examples: Sequence[IntentExample], slots: Sequence) -> list[dict[str, Any]]:
        return encode_examples(examples, slots, char_ids, vocab, d_index, i_index, int(data["max_chars"]),
                               head.fusion, unused, shared, head.ngram_buckets)

    dev_all, dev_all_slots = flatten(dev), [s for k in dev for s in dev_slots[k]]
    model = build_model(encoder, head, cfg["model"].get("encoder_layers"))
    del encoder
    knobs = finetune_kwargs(finetune)
    params = apply_finetune(model, model.encoder, **knobs)
    model.finetune = knobs if method != "full" else None   # load() replays it (adapters)
    trainer_cfg = dict(cfg["trainer"])
    rate = (finetune.get("learning_rate") or {}).get(method)
    if rate:   # a parameter-efficient method trains few, fresh parameters: they take larger steps
        trainer_cfg["learning_rate"] = float(rate)
    pad_id = tokenizer.pad_token_id or 0
    train_items = encode(train_examples, td.slots)
    if soft_labels is not None:
        targets = soft_labels([x.text for x in train_examples], td.slots)
        for item, (dom_p, int_p) in zip(train_items, targets, strict=True):
            item["domain_soft"], item["intent_soft"] = dom_p, int_p
    trainer, metrics = run_training(model, ListDataset(train_items),
                                    ListDataset(encode(dev_all, dev_all_slots)), lambda b: collate(b, pad_id),
                                    Path(cfg["work_dir"]), trainer_cfg, compute_metrics=head_accuracy,
                                    callbacks=callbacks)
    output_dir = Path(cfg["output_dir"])
    model = trainer.model.float().eval()
    temps = fit_temperatures(IntentClassifier(model, char_ids, pad_id), dev_all, dev_all_slots, shared)
    model.head_config.domain_temperature = temps["domain_temperature"]
    model.head_config.intent_temperature = temps["intent_temperature"]
    delta_base = cfg["encoder"]["pretrained"] if method != "full" else None
    save_trained(model, tokenizer, output_dir, trainer.state.log_history, delta_base=delta_base)
    clf = IntentClassifier.from_pretrained(output_dir)   # score what was saved: fp16 weights, fitted temperatures
    result = {"dev": dev_scores(clf, dev, dev_slots), **temps, "train_examples": td.originals,
              "swapped_examples": len(train_examples) - sum(td.originals.values()),
              "dev_examples": {k: len(v) for k, v in dev.items()}, "domains": len(domains),
              "intents": len(intents), "slot_types": len(head.slot_types), "parameters": params["total"],
              "finetune_method": method, "trained_parameters": params["trainable"],
              "stored_bytes": sum(f.stat().st_size for f in (output_dir / WEIGHTS_FILE,
                                                            output_dir / "intent.json")),
              **run_record(trainer, metrics, t0)}
    write_train_result(output_dir, result)
    from models.intent.model_card import write_model_card

    write_model_card(output_dir, cfg, result)
    return summary(result)


def train_from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``duihua train intent``: the gazetteer featurizer from the config's ``slots`` node, then ``train``."""
    from models.lexicon.features import train_with_gazetteer

    return train_with_gazetteer(cfg, check_config, train)


def head_accuracy(eval_pred: Any) -> dict[str, float]:
    """Trainer metrics: argmax accuracy of each head on the dev examples it has labels for."""
    (dom_logits, int_logits, *_), (dom_labels, int_labels) = eval_pred.predictions, eval_pred.label_ids
    out = {}
    for name, logits, labels in (("domain_acc", dom_logits, dom_labels), ("intent_acc", int_logits, int_labels)):
        keep = labels != IGNORE
        if keep.any():
            out[name] = float((logits[keep].argmax(-1) == labels[keep]).mean())
    return out


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The flat metrics the CLI prints."""
    flat: dict[str, Any] = {}
    for name, m in result["dev"].items():
        for key in ("accuracy", "domain_accuracy", "intent_accuracy", "macro_f1", "no_lexicons", "ece"):
            if m.get(key) is not None:
                flat[f"{name}_{key}"] = m[key]
    return {**flat, **{k: v for k, v in result.items() if not isinstance(v, dict | list)}}


__all__ = ["INTENT_SEP", "label_spaces", "train"]
