"""``duihua train request-scorer``: the joint decoder's piece model (``models/splitter/scorer.py``).

Steps: the splitter's sources, dev split and synthetic joins (``conf/train/splitter.yaml``, composed into
``conf/train/request-scorer.yaml``) -> pieces: every sentence as a positive, the pieces of wrong cuts as
negatives (``pieces.py``) -> the lowest ``scorer.encoder_layers`` layers of the pre-trained encoder with a
pooled classifier -> ``run_training`` (HF Trainer; resumes after a kill) -> accuracy and AUC on pieces of the
splitter's own dev joins -> fp16 weights, tokenizer and model card in ``output_dir``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from models.common.char_ids import CharIds
from models.common.errors import TrainConfigError
from models.common.training import ListDataset, run_record, run_training, save_trained, set_seed, write_train_result
from models.encoder.modeling import load_encoder
from models.splitter.config import ScorerHeadConfig
from models.splitter.pieces import Piece, candidate_pieces, training_pieces
from models.splitter.scorer import RequestScorer, collate, encode_piece
from models.splitter.scorer_model import build_scorer
from models.splitter.synth import Example
from models.splitter.train import DEV_SEED, check_config, prepare, sample

log = logging.getLogger(__name__)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):          # average ranks over ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    pos = labels > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)) if n_pos and n_neg else 0.0


def piece_scores(scorer: RequestScorer, pieces: Sequence[Piece]) -> dict[str, float]:
    labels = np.asarray([y for _, y in pieces])
    logp = np.asarray(scorer.log_probabilities([t for t, _ in pieces]))
    accuracy = float(((logp >= np.log(0.5)) == (labels > 0.5)).mean())
    return {"pieces": len(pieces), "accuracy": round(accuracy, 4), "auc": round(auc(labels, logp), 4)}


def mine_pieces(cfg: Mapping[str, Any], examples: Sequence[Example], mined: Mapping[str, Any]) -> list[Piece]:
    """The pieces a trained boundary tagger's candidates leave on ``examples`` (``pieces.candidate_pieces``)."""
    from models.splitter.features import splitter_view
    from models.splitter.inference import Splitter
    from models.splitter.train import featurizer

    tagger = Splitter.from_pretrained(mined["tagger"], backend="onnx", cache_dir=cfg["paths"]["cache"],
                                      featurize=featurizer(cfg))
    out: list[Piece] = []
    for k in tqdm(range(0, len(examples), 1024), desc="mine pieces", unit="batch", disable=None):
        part = examples[k:k + 1024]
        texts = ["".join(ex) for ex in part]
        views = [splitter_view(t) for t in texts]
        probs = tagger.long_probabilities([c for c, _ in views], tagger.view_tags(texts, views))
        for ex, (_, spans), p in zip(part, views, probs, strict=True):
            out += candidate_pieces(ex, p, spans, float(mined["candidate_min"]), int(mined["max_span"]))
    log.warning("request scorer: %d mined pieces (%.0f %% complete)", len(out),
                100 * sum(y for _, y in out) / max(len(out), 1))
    return out


def train(cfg: Mapping[str, Any], callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    check_config(cfg)
    tagger = (cfg["scorer"].get("mined") or {}).get("tagger")
    if tagger and not Path(tagger).is_dir():
        raise TrainConfigError(f"scorer.mined.tagger={tagger}: folder not found (a splitter checkpoint, e.g. "
                               "checkpoints/splitter; null mines nothing)")
    t0 = time.time()
    set_seed(cfg["seed"])
    data, spec = cfg["data"], cfg["scorer"]
    train_groups, sets = prepare(cfg)
    train_pieces = training_pieces(sample(cfg, train_groups, spec["examples"], cfg["seed"]), cfg["seed"],
                                   spec["max_shift"])
    mined = spec.get("mined") or {}
    if mined.get("tagger") and int(mined.get("examples", 0)):
        train_pieces += mine_pieces(cfg, sample(cfg, train_groups, int(mined["examples"]), cfg["seed"] + 1), mined)
    dev = {name: training_pieces(sets[name], DEV_SEED, spec["max_shift"]) for name in ("requests", "mixed")}
    encoder, tokenizer = load_encoder(cfg["encoder"]["pretrained"])
    model = build_scorer(encoder, spec.get("encoder_layers"), ScorerHeadConfig(**spec["head"]))
    del encoder
    scorer = RequestScorer(model, CharIds.from_tokenizer(tokenizer))
    encode = [encode_piece(t, scorer.char_ids, scorer.max_chars, y)
              for t, y in tqdm(train_pieces, desc="encode pieces", unit="piece", disable=None, mininterval=2)]
    evals = [encode_piece(t, scorer.char_ids, scorer.max_chars, y) for t, y in dev["mixed"][:data["eval_examples"]]]
    log.warning("request scorer: %d training pieces (%.0f %% complete)", len(encode),
                100 * sum(y for _, y in train_pieces) / max(len(train_pieces), 1))
    trainer, metrics = run_training(model, ListDataset(encode), ListDataset(evals), collate, Path(cfg["work_dir"]),
                                    cfg["trainer"], callbacks=callbacks)
    output_dir = Path(cfg["output_dir"])
    save_trained(trainer.model, tokenizer, output_dir, trainer.state.log_history)
    loaded = RequestScorer.from_pretrained(output_dir)
    result = {"dev": {name: piece_scores(loaded, p) for name, p in dev.items()},
              "train_pieces": len(encode), "layers": model.encoder_config.num_hidden_layers,
              "parameters": sum(p.numel() for p in model.parameters()), **run_record(trainer, metrics, t0)}
    write_train_result(output_dir, result)
    from models.splitter.scorer_card import write_scorer_card

    write_scorer_card(output_dir, cfg, result)
    return {**{f"{k}_auc": v["auc"] for k, v in result["dev"].items()},
            **{f"{k}_accuracy": v["accuracy"] for k, v in result["dev"].items()},
            "steps": result["steps"], "wall_s": result["wall_s"]}
