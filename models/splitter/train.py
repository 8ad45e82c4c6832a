"""``duihua train splitter``: train one boundary tagger (a teacher, or a student when soft labels are given).

Steps: read the sources grouped by dialogue/document and split them by group (``sources.py``) -> synthesise
``data.train_examples`` unpunctuated joins (``synth.py``) -> model view + 0/1 boundary labels -> the lowest
``model.encoder_layers`` layers of the pre-trained encoder with the gap classifier (with ``fusion: input``, the
gazetteer's character tags of the ``slots`` lexicons fused in, some spans' tags dropped as the intent trainer
drops them) -> ``run_training`` (HF
Trainer: length-grouped batches, checkpoints, resume after a kill) -> the exported fp16 model scored on the
fixed dev sets (written to ``dev_dir`` as ``duihua eval split`` files) -> model card.

The dev sets are drawn from dev groups only, with a fixed seed independent of ``seed`` (every model, teacher
or student, is scored on the same records):

* ``requests``: 1–4 SMP dev requests joined (SMP2017 ``develop.jsonl`` plus 10 % of SMP2019 texts);
* ``dialogue``: every dev CrossWOZ turn that holds at least two sentences;
* ``mixed``: the training mix of all four sources;
* ``lone``: every dev request on its own (any cut is wrong: precision is 0 by construction, ``exact`` is the
  share left whole).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from models.common.bigrams import BigramVocab
from models.common.errors import TrainConfigError
from models.common.finetune import apply_finetune, finetune_kwargs
from models.common.slot_tags import SlotTagVocab, slot_types_of
from models.common.training import ListDataset, run_record, run_training, save_trained, set_seed, write_train_result
from models.encoder.modeling import load_encoder
from models.intent.augment import drop_tags
from models.lexicon.features import Featurizer, featurizer_from_config
from models.splitter.features import CharIds, boundary_labels, collate, encode_example, splitter_view, view_tags
from models.splitter.inference import BoundaryTagger, Splitter
from models.splitter.modeling import HeadConfig, build_model
from models.splitter.scoring import gold_boundaries, score
from models.splitter.sources import Group, load_sources, missing_files
from models.splitter.synth import MAKERS, Example, SpeechNoise, clean, multi_sentence_blocks, synthesize

log = logging.getLogger(__name__)
DEV_SEED = 20261122  # fixed: every model is scored on the same dev records


def check_config(cfg: Mapping[str, Any]) -> None:
    """Fail in a second, before data loading, on what a user can get wrong."""
    data = cfg["data"]
    unknown = sorted(set(data["mix"]) - set(MAKERS))
    if unknown:
        raise TrainConfigError(f"data.mix: unknown sources {unknown}; known: {list(MAKERS)}")
    if not any(data["mix"].values()):
        raise TrainConfigError("data.mix: every source has weight 0, nothing to train on")
    fusion = cfg["model"]["head"].get("fusion", "none")
    if fusion not in ("none", "input"):
        raise TrainConfigError(f"model.head.fusion={fusion}: expected none or input")
    if fusion == "input" and "slots" not in cfg:
        raise TrainConfigError("model.head.fusion=input needs a slots node (the lexicons whose tags are fused)")
    if not 0 < float(cfg["threshold"]) < 1:
        raise TrainConfigError(f"threshold must be in (0, 1), got {cfg['threshold']}")
    if int(data["max_chars"]) > 250:
        raise TrainConfigError(f"data.max_chars={data['max_chars']}: at most 250 (the encoder has 256 positions)")
    encoder = str(cfg["encoder"]["pretrained"])
    if (encoder.startswith(("/", ".")) or Path(encoder).parent != Path(".")) and not Path(encoder).is_dir():
        raise TrainConfigError(f"encoder.pretrained={encoder}: folder not found (train it with "
                               "`duihua train pretrain`, or use encoder=hf encoder.pretrained=NAME)")
    missing = missing_files(data["dir"])
    if missing:
        raise TrainConfigError(f"data.dir={data['dir']}: missing {missing} (see ../shared/data/PROVENANCE.md)")


def counts(data: Mapping[str, Any]) -> dict[str, dict[int, float]]:
    return {source: {int(k): float(v) for k, v in dict(c).items()} for source, c in dict(data["counts"]).items()}


def load_groups(data: Mapping[str, Any]) -> tuple[dict[str, list[Group]], dict[str, list[Group]]]:
    sources = load_sources(data["dir"], data["dev_percent"])
    return {k: v[0] for k, v in sources.items()}, {k: v[1] for k, v in sources.items()}


def dev_sets(dev_groups: Mapping[str, list[Group]], data: Mapping[str, Any]) -> dict[str, list[Example]]:
    n, max_chars, c = data["dev_examples"], data["max_chars"], counts(data)
    return {
        "requests": synthesize(dev_groups, {"requests": 1}, c, n, DEV_SEED, max_chars),
        "dialogue": multi_sentence_blocks(dev_groups["dialogue"], max_chars),
        "mixed": synthesize(dev_groups, dict(data["mix"]), c, n, DEV_SEED + 1, max_chars),
        "lone": [ex for g in dev_groups["requests"] if (ex := clean(g.blocks[0][:1], max_chars))],
    }


def write_dev_sets(sets: Mapping[str, list[Example]], folder: Path) -> None:
    """The dev sets as ``duihua eval split`` files, so any checkpoint can be scored on them later."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, records in sets.items():
        lines = [json.dumps({"sentences": r}, ensure_ascii=False) for r in records]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def featurizer(cfg: Mapping[str, Any]) -> Featurizer | None:
    """The gazetteer tags of the configured lexicons, for a slot-fused model (else None)."""
    return featurizer_from_config(cfg)[0] if cfg["model"]["head"].get("fusion", "none") != "none" else None


def example_tags(examples: Sequence[Example], featurize: Featurizer, batch: int = 4096) -> list[list[list[str]]]:
    """Per example, the gazetteer tags of its model characters (as ``boundary_labels`` lays them out)."""
    out: list[list[list[str]]] = []
    for i in tqdm(range(0, len(examples), batch), desc="gazetteer tags", unit="batch", disable=None):
        texts = ["".join(ex) for ex in examples[i:i + batch]]
        out += [view_tags(tags, splitter_view(t)[1]) for t, tags in zip(texts, featurize(texts), strict=True)]
    return out


def encode(examples: Sequence[Example], char_ids: CharIds, vocab: BigramVocab | None,
           soft: Sequence[Sequence[float]] | None = None, desc: str = "encode",
           tag_vocab: SlotTagVocab | None = None, tags: Sequence[Sequence[Sequence[str]]] | None = None
           ) -> list[dict[str, Any]]:
    out = []
    for i, ex in enumerate(tqdm(examples, desc=desc, unit="ex", disable=None, mininterval=2)):
        chars, labels = boundary_labels(ex)
        out.append(encode_example(chars, char_ids, labels, None if soft is None else soft[i], vocab, tag_vocab,
                                  tags[i] if tags is not None else ()))
    return out


def dev_scores(tagger: BoundaryTagger, sets: Mapping[str, list[Example]]) -> dict[str, dict[str, Any]]:
    """Each dev set scored as ``duihua eval split`` scores it, with chars/s of the whole pass."""
    results = {}
    for name, records in sets.items():
        texts = ["".join(r) for r in records]
        t0 = time.perf_counter()
        cuts = tagger.cuts(texts)
        elapsed = time.perf_counter() - t0
        pred = [{c for c in cs if c < len(t)} for cs, t in zip(cuts, texts, strict=True)]
        results[name] = {**score([gold_boundaries(r) for r in records], pred), "records": len(records),
                         "chars_per_s": round(sum(map(len, texts)) / elapsed) if elapsed else None}
    return results


def train_model(cfg: Mapping[str, Any], train_examples: Sequence[Example], eval_examples: Sequence[Example],
                output_dir: Path, work_dir: Path, soft: Sequence[Sequence[float]] | None = None,
                callbacks: Sequence[Any] = ()) -> tuple[Splitter, dict[str, Any]]:
    """Train one splitter into ``output_dir`` (fp16 weights + tokenizer); returns it loaded back, and stats."""
    set_seed(cfg["seed"])
    t0 = time.time()
    encoder, tokenizer = load_encoder(cfg["encoder"]["pretrained"])
    char_ids = CharIds.from_tokenizer(tokenizer)
    head = HeadConfig(**cfg["model"]["head"])
    vocab = None
    if head.bigram_dim:
        bigram_cfg = cfg["model"]["bigrams"]
        vocab = BigramVocab.build((boundary_labels(ex)[0] for ex in train_examples), bigram_cfg["min_count"],
                                  bigram_cfg["max_size"])
        head.n_bigrams = len(vocab)
    featurize, tag_vocab, train_tags, eval_tags = featurizer(cfg), None, None, None
    if featurize is not None:
        train_tags = example_tags(train_examples, featurize)
        head.slot_types = slot_types_of(train_tags)
        dropout = float(cfg["data"].get("tag_dropout", 0.0))
        if dropout:   # the lexicons hold training names: the model must also meet untagged ones, as in use
            train_tags = drop_tags(train_tags, dropout, cfg["seed"])
        eval_tags = example_tags(eval_examples, featurize)
        tag_vocab = SlotTagVocab(head.slot_types, head.max_tags)
    train_items = encode(train_examples, char_ids, vocab, soft, "encode train", tag_vocab, train_tags)
    eval_items = encode(eval_examples, char_ids, vocab, desc="encode eval", tag_vocab=tag_vocab, tags=eval_tags)
    model = build_model(encoder, cfg["model"].get("encoder_layers"), head)
    del encoder
    finetune = cfg.get("finetune") or {}
    params = apply_finetune(model, model.encoder, **finetune_kwargs(finetune))
    model.finetune = finetune_kwargs(finetune) if finetune.get("method", "full") != "full" else None  # replayed on load
    log.warning("splitter %s: %d layers, parameters %s", output_dir.name, model.encoder_config.num_hidden_layers,
                params)
    trainer, metrics = run_training(model, ListDataset(train_items), ListDataset(eval_items), collate, work_dir,
                                    cfg["trainer"], callbacks=callbacks)
    save_trained(trainer.model, tokenizer, output_dir, trainer.state.log_history)
    if vocab is not None:
        vocab.save(output_dir)
    record = run_record(trainer, metrics, t0)
    del record["wall_s"]   # the caller's: it includes dev scoring
    stats = {"layers": model.encoder_config.num_hidden_layers, "parameters": params.get("total", params),
             "train_examples": len(train_items), "train_chars": int(sum(len(x["input_ids"]) - 2 for x in train_items)),
             **record, "soft_labels": soft is not None}
    return Splitter.from_pretrained(output_dir, threshold=cfg["threshold"], featurize=featurize), stats


def prepare(cfg: Mapping[str, Any]) -> tuple[dict[str, list[Group]], dict[str, list[Example]]]:
    """Training groups and the fixed dev sets (also written to ``dev_dir``)."""
    train_groups, dev_groups = load_groups(cfg["data"])
    sets = dev_sets(dev_groups, cfg["data"])
    write_dev_sets(sets, Path(cfg["dev_dir"]))
    return train_groups, sets


def sample(cfg: Mapping[str, Any], groups: Mapping[str, list[Group]], n: int, seed: int) -> list[Example]:
    """``n`` synthetic training joins in the configured mix."""
    data = cfg["data"]
    return synthesize(groups, dict(data["mix"]), counts(data), n, seed, data["max_chars"], speech_noise(data))


def speech_noise(data: Mapping[str, Any]) -> SpeechNoise:
    noise = dict(data.get("noise") or {})
    return SpeechNoise(connectives=tuple(noise.get("connectives") or ()),
                       connective_p=float(noise.get("connective_p", 0.0)),
                       fillers=tuple(noise.get("fillers") or ()), filler_p=float(noise.get("filler_p", 0.0)),
                       restart_p=float(noise.get("restart_p", 0.0)),
                       same_label_p=float(noise.get("same_label_p", 0.0)))


def train(cfg: Mapping[str, Any], callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """``duihua train splitter``: one model on hard labels, written to ``output_dir`` with a model card."""
    check_config(cfg)
    t0 = time.time()
    data = cfg["data"]
    train_groups, sets = prepare(cfg)
    examples = sample(cfg, train_groups, data["train_examples"], cfg["seed"])
    output_dir = Path(cfg["output_dir"])
    splitter, stats = train_model(cfg, examples, sets["mixed"][: data["eval_examples"]], output_dir,
                                  Path(cfg["work_dir"]), callbacks=callbacks)
    result = {"dev": dev_scores(splitter, sets), **stats, "wall_s": round(time.time() - t0, 1)}
    write_train_result(output_dir, result)
    from models.splitter.model_card import write_model_card

    write_model_card(output_dir, cfg, result)
    return summary(result)


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The flat metrics the CLI prints: F1 per dev set and the scalars."""
    flat = {f"{name}_f1": m["f1"] for name, m in result["dev"].items()}
    return {**flat, **{k: v for k, v in result.items() if not isinstance(v, dict | list)}}
