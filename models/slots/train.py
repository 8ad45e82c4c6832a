"""``duihua train slots``: the character slot tagger on SMP2019 + CrossWOZ user turns, with a model card.

Steps: read both datasets and carve the dev splits (``data.py``) -> gazetteer tags for every text
(``models.lexicon.features``, what the pipeline's slot stage feeds at inference) -> entity-swap copies and tag
dropout (``augment.py``) -> encoder + gated fusion + BIO head -> ``run_training`` (HF Trainer, fixed epochs,
resume after a kill) -> dev span scores with and without lexicons -> fp16 checkpoint and model card.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.common.char_ids import CharIds
from models.common.errors import TrainConfigError
from models.common.slot_tags import SlotTagVocab
from models.common.training import ListDataset, run_record, run_training, save_trained, set_seed, write_train_result
from models.encoder.modeling import load_encoder
from models.lexicon.features import CharTags, Featurizer, train_with_gazetteer
from models.slots.augment import drop_tags, swap_entities
from models.slots.data import SlotExample, load_smp2017, load_splits, missing_files, write_dev_sets
from models.slots.features import IGNORE, collate, encode
from models.slots.inference import SlotTagger
from models.slots.modeling import FUSIONS, WEIGHTS_FILE, SlotHeadConfig, build_model
from models.slots.scoring import recall_by_type, span_scores

log = logging.getLogger(__name__)


def check_config(cfg: Mapping[str, Any]) -> None:
    """Fail in a second, before data loading, on what a user can get wrong."""
    data, head = cfg["data"], cfg["model"]["head"]
    if head.get("fusion", "gated") not in FUSIONS:
        raise TrainConfigError(f"model.head.fusion: expected one of {FUSIONS}, got {head.get('fusion')!r}")
    if not data.get("datasets"):
        raise TrainConfigError("data.datasets: name at least one of smp2019, crosswoz")
    unknown = sorted(set(data["datasets"]) - {"smp2019", "crosswoz"})
    if unknown:
        raise TrainConfigError(f"data.datasets: unknown {unknown}; known: smp2019, crosswoz")
    unknown_intent = sorted(set(data.get("intent_datasets") or []) - {"smp2017", "smp2019"})
    if unknown_intent:
        raise TrainConfigError(f"data.intent_datasets: unknown {unknown_intent}; known: smp2017, smp2019")
    if not 0 <= float(data.get("tag_dropout", 0.0)) < 1:
        raise TrainConfigError(f"data.tag_dropout must be in [0, 1), got {data['tag_dropout']}")
    missing = missing_files(data["dir"], data["datasets"])
    if missing:
        raise TrainConfigError(f"data.dir={data['dir']}: missing {missing} (see ../shared/data/PROVENANCE.md)")


def dev_scores(tagger: SlotTagger, dev: Mapping[str, Sequence[SlotExample]], tags: Mapping[str, Sequence[CharTags]]
               ) -> dict[str, Any]:
    """Per dataset: span scores with lexicons and without (``no_lexicons``), and recall per gold type; for a
    joint model also argmax intent accuracy (``domain`` on SMP2017, ``domain/intent`` on SMP2019), in %."""
    out: dict[str, Any] = {}
    for name, examples in dev.items():
        if tagger.head.domains:
            domains, intents = tagger.classify([x.text for x in examples], tags[name])
            pred, gold_labels = (domains, [x.domain for x in examples]) if name == "smp2017" else (
                intents, [x.intent for x in examples])
            if any(g is not None for g in gold_labels):
                pairs = [(p, g) for p, g in zip(pred, gold_labels, strict=True) if g is not None]
                out.setdefault(name, {})["intent_accuracy"] = round(100 * sum(p == g for p, g in pairs) / len(pairs), 2)
        if not any(x.tagged for x in examples):
            continue
        texts, gold = [x.text for x in examples], [x.spans for x in examples]
        t0 = time.perf_counter()
        pred = [{(s.start, s.end) for s in spans} for spans in tagger.predict(texts, tags[name])]
        elapsed = time.perf_counter() - t0
        blind = [{(s.start, s.end) for s in spans} for spans in tagger.predict(texts, None)]
        out.setdefault(name, {}).update({
            **span_scores(gold, pred), "no_lexicons_f1": span_scores(gold, blind)["f1"], "examples": len(examples),
            "queries_per_s": round(len(texts) / elapsed, 1) if elapsed else None,
            "recall_by_type": dict(list(recall_by_type(gold, pred).items())[:12])})
    return out


def training_set(cfg: Mapping[str, Any], train: Sequence[SlotExample], featurize: Featurizer,
                 pool: Mapping[str, Sequence[str]]) -> tuple[list[SlotExample], list[CharTags]]:
    data, seed = cfg["data"], int(cfg["seed"])
    tags = featurize([x.text for x in train])
    swap = data.get("entity_swap") or {}
    examples = list(train)
    if int(swap.get("copies", 0)):
        extra, extra_tags = swap_entities(train, tags, pool, featurize, int(swap["copies"]),
                                          int(swap.get("min_chars", 2)), seed)
        log.warning("slots: entity swap added %d training requests", len(extra))
        examples, tags = [*examples, *extra], [*tags, *extra_tags]
    if float(data.get("tag_dropout", 0.0)):
        tags = drop_tags(examples, tags, float(data["tag_dropout"]), seed)
    return examples, tags


def train(cfg: Mapping[str, Any], featurize: Featurizer, pool: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Train into ``output_dir``; ``featurize`` gives gazetteer tags, ``pool`` the lexicon surfaces per type.
    Longer than the other functions on purpose: its steps share the splits, tag vocabulary and model, and it
    reads top to bottom as the recipe the model card documents."""
    check_config(cfg)
    t0 = time.time()
    set_seed(int(cfg["seed"]))
    data = cfg["data"]
    train_groups, dev = load_splits(data["dir"], data["datasets"], float(data["crosswoz_dev_percent"]))
    write_dev_sets(dev, Path(cfg["dev_dir"]))
    intent_sets = list(data.get("intent_datasets") or [])
    if "smp2017" in intent_sets:   # the joint model: SMP2017 domains too (their slots are not annotated)
        train_groups["smp2017"], dev["smp2017"] = load_smp2017(data["dir"])
    if not any(dev.values()):   # the Trainer's eval and the model card's scores need held-out texts
        raise TrainConfigError(f"data.datasets={list(data['datasets'])}: the dev split is empty (too few texts?)")
    originals = [x for name in train_groups for x in train_groups[name]]
    log.warning("slots: featurizing %d train / %d dev texts with the gazetteer", len(originals),
                sum(map(len, dev.values())))
    examples, tags = training_set(cfg, originals, featurize, pool)
    dev_tags = {k: featurize([x.text for x in v]) for k, v in dev.items()}
    labels = sorted({name for x in originals for _, _, name in x.spans})
    gazetteer_types = sorted({t[2:] for text in tags for c in text for t in c})
    domains = sorted({x.domain for x in originals if x.domain}) if intent_sets else []
    intents = sorted({x.intent for x in originals if x.intent and "smp2019" in intent_sets}) if intent_sets else []
    head = SlotHeadConfig(labels=labels, slot_types=gazetteer_types, lexicon_types=sorted(pool), domains=domains,
                          intents=intents,
                          **cfg["model"]["head"])
    encoder, tokenizer = load_encoder(cfg["encoder"]["pretrained"])
    char_ids, pad_id = CharIds.from_tokenizer(tokenizer), tokenizer.pad_token_id or 0
    vocab = SlotTagVocab(head.slot_types, head.max_tags)
    tag_index = {t: i for i, t in enumerate(head.tags)}
    max_chars = int(data["max_chars"])

    d_index, i_index = {d: i for i, d in enumerate(domains)}, {x: i for i, x in enumerate(intents)}

    def items(xs: Sequence[SlotExample], ts: Sequence[CharTags]) -> list[dict[str, Any]]:
        out = []
        for x, t in zip(xs, ts, strict=True):
            item = encode(x.text, t, char_ids, vocab, max_chars, tag_index, x.spans, head.bigram_buckets, x.tagged)
            if domains:
                item["domain_labels"] = d_index.get(x.domain, IGNORE) if x.domain else IGNORE
                item["intent_labels"] = i_index.get(x.intent, IGNORE) if x.intent else IGNORE
            out.append(item)
        return out

    model = build_model(encoder, head, cfg["model"].get("encoder_layers"))
    del encoder
    dev_all = [x for v in dev.values() for x in v]
    dev_all_tags = [t for k in dev for t in dev_tags[k]]
    trainer_cfg = dict(cfg["trainer"])
    if domains:   # the joint model's heads: Trainer must pass their labels through
        trainer_cfg["label_names"] = ["labels", "domain_labels", "intent_labels"]
    trainer, metrics = run_training(model, ListDataset(items(examples, tags)),
                                    ListDataset(items(dev_all, dev_all_tags)), lambda b: collate(b, pad_id),
                                    Path(cfg["work_dir"]), trainer_cfg,
                                    compute_metrics=tag_accuracy)
    output_dir = Path(cfg["output_dir"])
    model = trainer.model.float().eval()
    save_trained(model, tokenizer, output_dir, trainer.state.log_history)
    tagger = SlotTagger.from_pretrained(output_dir)   # score what was saved: fp16 weights
    result = {"dev": dev_scores(tagger, dev, dev_tags), "train_examples": {k: len(v) for k, v in train_groups.items()},
              "swapped_examples": len(examples) - len(originals), "labels": len(labels),
              "gazetteer_types": len(gazetteer_types), "parameters": sum(p.numel() for p in model.parameters()),
              "stored_bytes": (output_dir / WEIGHTS_FILE).stat().st_size, **run_record(trainer, metrics, t0)}
    write_train_result(output_dir, result)
    from models.slots.model_card import write_model_card

    write_model_card(output_dir, cfg, result)
    return summary(result)


def train_from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``duihua train slots``: the gazetteer featurizer from the config's ``slots`` node, then ``train``."""
    return train_with_gazetteer(cfg, check_config, train)


def tag_accuracy(eval_pred: Any) -> dict[str, float]:
    """Trainer metric: argmax accuracy of the characters that carry a non-O gold tag."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    logits = logits[0] if isinstance(logits, tuple) else logits
    labels = labels[0] if isinstance(labels, tuple | list) else labels
    keep = (labels != IGNORE) & (labels != 0)
    return {"slot_char_acc": float((logits.argmax(-1)[keep] == labels[keep]).mean()) if keep.any() else 0.0}


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, m in result["dev"].items():
        for key in ("precision", "recall", "f1", "no_lexicons_f1", "intent_accuracy"):
            if key in m:
                flat[f"{name}_{key}"] = m[key]
    return {**flat, **{k: v for k, v in result.items() if not isinstance(v, dict | list)}}


__all__ = ["train", "train_from_config"]
