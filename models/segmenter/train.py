"""``duihua train segmenter``: train the multi-granularity segmenter and export ``checkpoints/segmenter``.

Steps: read the three views (``corpus.py``) -> fold every word into the model view (``charmap.py``) and cut
sentences longer than ``data.max_chars`` at word boundaries -> bigram vocabulary from the training side ->
the word lists of ``wordhood.sources`` (``wordhood_training.py``) -> encode ``[CLS] [G] chars [SEP]`` with
B/M/E/S labels and each character's wordhood bits -> the segmenter on top of the pre-trained encoder ->
``run_training`` (HF Trainer: length-grouped batches, checkpoints, resume after a kill) -> score the full dev
sets with the exported fp16 model (the numbers a user gets; with the dev-only words out of the lists, and
with the lists as shipped) -> fp16 safetensors, tokenizer, bigram list, word lists, dev gold files and a
model card.

``data.views`` weights the views per epoch (``pku_fine: 1, pku_coarse: 1, msr: 2``): the MSR slice is small
and is the real coarse standard, so it is repeated. A weight of 0 drops a view, which is how the
single-granularity ablations are trained.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from models.charmap import fold_words
from models.common.errors import TrainConfigError
from models.common.finetune import apply_finetune, finetune_kwargs
from models.common.training import ListDataset, run_record, run_training, save_trained, set_seed, write_train_result
from models.encoder.modeling import load_encoder
from models.segmenter.corpus import (
    COARSE_RULES,
    MSR_FILE,
    PKU_FINE_FILES,
    PKU_POS_FILE,
    load_views,
    write_sighan,
)
from models.segmenter.features import BigramVocab, CharIds, bmes_tags, collate, encode_example
from models.segmenter.inference import Segmenter
from models.segmenter.modeling import build_model
from models.segmenter.scoring import score
from models.segmenter.wordhood import MAX_SOURCES, Wordhood
from models.segmenter.wordhood_training import WordhoodFeaturizer, derived_sources, held_out_lists, wordhood_lists

log = logging.getLogger(__name__)
VIEW_GRANULARITY = {"pku_fine": "fine", "pku_coarse": "coarse", "msr": "coarse"}


def cut_long(folded: list[list[str]], max_chars: int) -> list[list[list[str]]]:
    """Split a folded sentence into pieces of at most ``max_chars`` characters at word boundaries."""
    pieces, cur, size = [], [], 0
    for w in folded:
        if cur and size + len(w) > max_chars:
            pieces.append(cur)
            cur, size = [], 0
        cur.append(w[:max_chars])
        size += len(cur[-1])
    if cur:
        pieces.append(cur)
    return pieces


def fold_sentences(sentences: Sequence[list[str]]) -> list[list[list[str]]]:
    """Gold sentences in the model view: each word a list of folded characters, empty words dropped."""
    return [[w for w in fold_words(words) if w] for words in sentences]


def encode_view(folded: Sequence[list[list[str]]], granularity: str, char_ids: CharIds, vocab: BigramVocab,
                max_chars: int, featurize: WordhoodFeaturizer | None = None) -> list[dict[str, Any]]:
    """Encode folded sentences (``fold_sentences``), cut to ``max_chars`` at word boundaries."""
    featurize = featurize or WordhoodFeaturizer(None)
    out = []
    for words in tqdm(folded, desc=f"encode {granularity}", unit="sent", disable=None, mininterval=2):
        for piece in cut_long(words, max_chars):
            chars = [c for w in piece for c in w]
            out.append(encode_example(chars, granularity, char_ids, vocab, bmes_tags(piece), featurize(piece, chars)))
    return out


def dev_scores(segmenter: Segmenter, dev: Mapping[str, list[list[str]]], train_words: set[str]
               ) -> dict[str, dict]:
    """Full dev sets scored with the exported model, as ``duihua eval segment`` would."""
    results = {}
    for name, sentences in dev.items():
        granularity = VIEW_GRANULARITY[name]
        texts = ["".join(s) for s in sentences]
        t0 = time.perf_counter()
        pred = segmenter.words(texts, granularity)
        elapsed = time.perf_counter() - t0
        results[name] = {**score(sentences, pred, train_words), "granularity": granularity,
                         "sentences": len(sentences), "chars_per_s": round(sum(map(len, texts)) / elapsed)}
    return results


def check_config(cfg: Mapping[str, Any]) -> None:
    """Fail in a second, before minutes of data loading, on what a user can get wrong."""
    data_cfg = cfg["data"]
    weights = dict(data_cfg["views"])
    unknown = sorted(set(weights) - set(VIEW_GRANULARITY))
    if unknown:
        raise TrainConfigError(f"data.views: unknown views {unknown}; known: {sorted(VIEW_GRANULARITY)}")
    if not any(weights.values()):
        raise TrainConfigError("data.views: every view has weight 0, nothing to train on")
    sources = dict((cfg.get("wordhood") or {}).get("sources") or {})
    for name, source in sources.items():
        unknown_views = sorted(set(source.get("derived_from") or []) - set(VIEW_GRANULARITY))
        if unknown_views:
            raise TrainConfigError(f"wordhood.sources.{name}.derived_from: unknown views {unknown_views}")
    if len(sources) > MAX_SOURCES:
        raise TrainConfigError(f"wordhood.sources: at most {MAX_SOURCES} word lists, got {len(sources)}")
    for name, source in sources.items():
        if not any(Path(data_cfg["dir"]).glob(pattern) for pattern in source["files"]):
            raise TrainConfigError(f"wordhood.sources.{name}: no file matches {list(source['files'])} under "
                                   f"data.dir={data_cfg['dir']}")
    bad_rules = sorted(set(data_cfg["coarse_rules"]) - set(COARSE_RULES))
    if bad_rules:
        raise TrainConfigError(f"data.coarse_rules: unknown rules {bad_rules}; known: {sorted(COARSE_RULES)}")
    encoder = str(cfg["encoder"]["pretrained"])
    if (encoder.startswith(("/", ".")) or Path(encoder).parent != Path(".")) and not Path(encoder).is_dir():
        raise TrainConfigError(f"encoder.pretrained={encoder}: folder not found (train it with "
                               "`duihua train pretrain`, or use encoder=hf encoder.pretrained=NAME)")
    needed = [*PKU_FINE_FILES, PKU_POS_FILE, MSR_FILE]
    missing = [f for f in needed if not (Path(data_cfg["dir"]) / f).is_file()]
    if missing:
        raise TrainConfigError(f"data.dir={data_cfg['dir']}: missing {missing} (see ../shared/data/PROVENANCE.md)")


def weighted_items(encoded: Mapping[str, list[dict[str, Any]]], weights: Mapping[str, float],
                   rng: random.Random) -> list[dict[str, Any]]:
    """Each view's examples repeated by the whole part of its weight, plus a sample of the fractional part."""
    items: list[dict[str, Any]] = []
    for k, view in encoded.items():
        whole, frac = divmod(float(weights[k]), 1)
        items += view * int(whole) + rng.sample(view, round(frac * len(view)))
    return items


def train(cfg: Mapping[str, Any], callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """``duihua train segmenter``: views -> bigrams and word lists -> weighted items -> Trainer -> fp16
    checkpoint, dev scores and model card. Longer than the other functions on purpose: its steps share the
    views, vocabulary and word lists, and it reads top to bottom as the recipe the model card documents."""
    check_config(cfg)
    t0 = time.time()
    set_seed(cfg["seed"])
    data_cfg = cfg["data"]
    work_dir, output_dir = Path(cfg["work_dir"]), Path(cfg["output_dir"])
    work_dir.mkdir(parents=True, exist_ok=True)
    views = load_views(data_cfg["dir"], data_cfg["coarse_rules"], data_cfg["dev_percent"], data_cfg["msr_dev_lines"])
    rng = random.Random(cfg["seed"])
    weights = {k: v for k, v in dict(data_cfg["views"]).items() if v}
    limit = data_cfg.get("max_examples")
    train_views = {k: (rng.sample(views[k][0], min(limit, len(views[k][0]))) if limit else views[k][0])
                   for k in weights}
    dev = {k: views[k][1] for k in views}

    encoder, tokenizer = load_encoder(cfg["encoder"]["pretrained"])
    char_ids = CharIds.from_tokenizer(tokenizer)
    folded_views = {k: fold_sentences(sentences) for k, sentences in train_views.items()}  # folded once
    vocab = BigramVocab.build(([c for w in words for c in w] for folded in folded_views.values() for words in folded),
                              cfg["bigrams"]["min_count"], cfg["bigrams"]["max_size"])
    max_chars = data_cfg["max_chars"]
    train_words = {w for sentences in train_views.values() for s in sentences for w in s}
    lists = wordhood_lists(cfg)
    wordhood = Wordhood(lists) if lists else None
    corpus_words = {w for train, _ in views.values() for s in train for w in s}  # all of it, whatever max_examples
    dev_wordhood = Wordhood(held_out_lists(cfg, lists, dev, corpus_words)) if lists else None
    dropout = float((cfg.get("wordhood") or {}).get("dropout") or 0.0)
    train_items = weighted_items({k: encode_view(folded, VIEW_GRANULARITY[k], char_ids, vocab, max_chars,
                                                 WordhoodFeaturizer(wordhood, dropout, derived_sources(cfg, k),
                                                                    cfg["seed"]))
                                  for k, folded in folded_views.items()}, weights, rng)
    eval_items: list[dict[str, Any]] = []  # the held-out lists: model selection must not reward trusting dev words
    for k, sentences in dev.items():
        sample = rng.sample(sentences, min(data_cfg["eval_examples"], len(sentences)))
        eval_items += encode_view(fold_sentences(sample), VIEW_GRANULARITY[k], char_ids, vocab, max_chars,
                                  WordhoodFeaturizer(dev_wordhood))
    stats = {"train_examples": len(train_items), "train_chars": int(sum(len(x["input_ids"]) - 3 for x in train_items)),
             "eval_examples": len(eval_items), "bigrams": len(vocab),
             "wordhood_words": {name: len(words) for name, words in lists.items()},
             **{f"{k}_train_sentences": len(v) for k, v in train_views.items()},
             **{f"{k}_dev_sentences": len(v) for k, v in dev.items()}}
    log.warning("segmenter data: %s", stats)

    head = {k: v for k, v in dict(cfg["model"]).items() if k != "encoder_layers"}
    model = build_model(encoder, cfg["model"].get("encoder_layers"), {**head, "wordhood_sources": list(lists)},
                        len(vocab))
    del encoder
    finetune = cfg.get("finetune") or {}
    param_counts = apply_finetune(model, model.encoder, **finetune_kwargs(finetune))
    model.finetune = finetune_kwargs(finetune) if finetune.get("method", "full") != "full" else None  # replayed on load
    log.warning("segmenter parameters: %s", param_counts)
    trainer, metrics = run_training(model, ListDataset(train_items), ListDataset(eval_items), collate, work_dir,
                                    cfg["trainer"], callbacks=callbacks)
    record = run_record(trainer, metrics, t0)
    del record["wall_s"]   # measured below, after dev scoring
    if not trainer.is_world_process_zero():
        return metrics

    save_trained(trainer.model, tokenizer, output_dir, trainer.state.log_history)
    vocab.save(output_dir)
    if wordhood is not None:
        wordhood.save(output_dir)
    for k, sentences in dev.items():
        write_sighan(sentences, work_dir / "dev" / f"{k}.txt")
    scores, shipped_lists = score_saved(output_dir, dev, train_words, dev_wordhood)
    result = {
        "fine_f1": scores["pku_fine"]["f1"], "coarse_f1": scores["msr"]["f1"],
        "pku_coarse_f1": scores["pku_coarse"]["f1"], "dev": scores, "dev_shipped_lists": shipped_lists,
        **record, "wall_s": round(time.time() - t0, 1), **stats,
    }
    write_train_result(output_dir, result)
    from models.segmenter.model_card import write_model_card

    write_model_card(output_dir, cfg, result)
    return {k: v for k, v in result.items() if not isinstance(v, dict)}


def score_saved(folder: Path, dev: Mapping[str, Any], train_words: set[str], dev_wordhood: Wordhood | None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Dev scores of the saved (fp16) checkpoint. With word lists the headline scores use the held-out lists
    (dev as a test set: its own words not in them); the scores with the shipped lists come second."""
    segmenter = Segmenter.from_pretrained(folder)
    scores = dev_scores(segmenter, dev, train_words)
    if dev_wordhood is None:
        return scores, {}
    segmenter.wordhood = dev_wordhood
    return dev_scores(segmenter, dev, train_words), scores

