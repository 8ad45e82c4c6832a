"""``duihua train reply-ranker``: the response-selection model the rank stage reranks candidates with.

Steps: the generator's own training mix and dev pairs (``conf/train/reply.yaml``'s ``data`` node, composed into
``conf/train/reply-ranker.yaml``; ``models/reply/train.py: load_data``) -> (query, response) ids, the query
being the turn before the response -> the lowest ``ranker.encoder_layers`` layers of the pre-trained encoder
(``selection.py``) -> ``train_steps`` with in-batch negatives -> fp16 weights, tokenizer, ``train_result.json``
and the model card -> recall@1 of 10 on the dev pairs: the true response against 9 other dev responses drawn
with a fixed seed, scored by the saved (fp16) model.

Why ``train_steps`` and not the HF Trainer: the loss needs the whole batch (its other responses are the
negatives) and a mask of equal responses, and the run is a few thousand fixed steps with nothing to resume.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from models.common.errors import TrainConfigError
from models.common.simple_training import train_steps
from models.common.training import set_seed, write_train_result
from models.encoder.modeling import load_encoder
from models.reply.data import POOL_FILE, ChatPair, dev_pairs, load_sources, write_pool
from models.reply.features import ReplyTokenizer
from models.reply.inference import InputLimits
from models.reply.selection import QUERY, RESPONSE, ResponseSelector, SelectionEncoder, build_selection, pad
from models.reply.selection_config import SelectionHeadConfig
from models.reply.train import check_config as check_reply_config
from models.reply.train import load_data

log = logging.getLogger(__name__)
DEV_SEED = 20261203   # the 9 negatives of each dev pair: one fixed draw, so every run is scored on the same sets


def check_config(cfg: Mapping[str, Any]) -> None:
    check_reply_config(cfg)
    spec = cfg["ranker"]
    if int(spec["steps"]) < 1 or int(spec["batch_size"]) < 2:
        raise TrainConfigError("ranker: steps >= 1 and batch_size >= 2 (the batch holds the negatives)")
    if float(spec["head"]["temperature"]) <= 0:
        raise TrainConfigError(f"ranker.head.temperature must be > 0, got {spec['head']['temperature']}")
    if int(spec["dev_candidates"]) < 2:
        raise TrainConfigError(f"ranker.dev_candidates must be >= 2, got {spec['dev_candidates']}")


def recall_at_1(selector: ResponseSelector, pairs: Sequence[ChatPair], candidates: int = 10,
                seed: int = DEV_SEED) -> float:
    """Share of pairs whose own response outscores ``candidates - 1`` other responses of ``pairs`` (drawn
    with ``seed``, never a text equal to the true one); a tie counts as a miss."""
    responses = [p.response for p in pairs]
    q = selector.embed([p.query for p in pairs], QUERY)
    r = selector.embed(responses, RESPONSE)
    sims = q @ r.T   # torch tensors or numpy arrays (the ONNX selector)
    rng = random.Random(seed)
    hits = 0
    for i in range(len(pairs)):
        others = [j for j in range(len(pairs)) if responses[j] != responses[i]]
        negatives = rng.sample(others, min(candidates - 1, len(others)))
        hits += bool((sims[i, negatives] < sims[i, i]).all())
    return hits / max(len(pairs), 1)


def encode_pairs(encode: SelectionEncoder, pairs: Sequence[ChatPair]) -> list[tuple[list[int], list[int], str]]:
    """(query ids, response ids, response text) per pair with a query; the text marks equal responses."""
    return [(encode.query(p.query), encode.response(p.response), p.response) for p in pairs if p.query]


def batch_loss(model: torch.nn.Module, batch: list[tuple[list[int], list[int], str]], pad_id: int) -> torch.Tensor:
    texts = [t for _, _, t in batch]
    same = torch.tensor([[a == b for b in texts] for a in texts])
    return model.contrastive_loss(pad([q for q, _, _ in batch], pad_id), pad([r for _, r, _ in batch], pad_id), same)


def ship_pool(cfg: Mapping[str, Any], output_dir: Path) -> int:
    """The retrieval pool ``reply=rank`` reranks (``cfg.pool``: sources as ``conf/reply/retrieval.yaml``
    reads them), written beside the model: derived from the shared corpora once, so an installed duihua
    answers chat without them."""
    spec = cfg["pool"]
    pairs = load_sources(Path(cfg["data"]["dir"]), spec["sources"], int(spec["max_turns"]),
                         int(spec["subtitle_max_chars"]))
    written = write_pool(pairs, output_dir / POOL_FILE)
    log.warning("reply ranker: %d retrieval pairs -> %s", written, output_dir / POOL_FILE)
    return written


def train(cfg: Mapping[str, Any]) -> dict[str, Any]:
    t0 = time.time()
    if cfg.get("pool_only"):
        return {"pool_pairs": ship_pool(cfg, Path(cfg["output_dir"]))}
    check_config(cfg)
    set_seed(cfg["seed"])
    spec = cfg["ranker"]
    head = SelectionHeadConfig(**spec["head"])
    limits = InputLimits(**cfg["model"]["limits"])
    mix, _, stats = load_data(cfg, limits)
    dev = [p for p in dev_pairs(Path(cfg["data"]["dir"]), 1) if p.query]
    encoder, hf_tokenizer = load_encoder(cfg["encoder"]["pretrained"])
    model = build_selection(encoder, spec.get("encoder_layers"), head)
    del encoder
    tokenizer = ReplyTokenizer(cfg["encoder"]["pretrained"])
    items = encode_pairs(SelectionEncoder(tokenizer, head), mix)
    pad_id = tokenizer.pad_token_id or 0
    log.warning("reply ranker: %d training pairs, %d dev pairs, %d steps of %d", len(items), len(dev),
                spec["steps"], spec["batch_size"])
    train_t0 = time.time()
    seen: list[float] = []

    def loss_fn(m: torch.nn.Module, batch: list[tuple[list[int], list[int], str]]) -> torch.Tensor:
        loss = batch_loss(m, batch, pad_id)
        seen.append(float(loss.detach()))
        if len(seen) % int(spec["log_steps"]) == 0:
            recent = seen[-int(spec["log_steps"]):]
            log.warning("step %d loss %.4f (%.0f s)", len(seen), sum(recent) / len(recent), time.time() - train_t0)
        return loss

    losses = train_steps(model, items, loss_fn, int(spec["steps"]), float(spec["learning_rate"]),
                         batch_size=int(spec["batch_size"]), seed=cfg["seed"], warmup=float(spec["warmup"]),
                         desc="train reply ranker")
    train_s = time.time() - train_t0
    output_dir = Path(cfg["output_dir"])
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save(output_dir)
    hf_tokenizer.save_pretrained(str(output_dir))
    every = int(spec["log_steps"])
    curve = [{"step": i + every, "loss": round(sum(losses[i : i + every]) / len(losses[i : i + every]), 4)}
             for i in range(0, len(losses), every)]
    (output_dir / "loss_curve.json").write_text(json.dumps(curve, indent=1), encoding="utf-8")
    pool_pairs = ship_pool(cfg, output_dir)
    selector = ResponseSelector.from_pretrained(output_dir)   # score what was shipped: the fp16 weights
    k = int(spec["dev_candidates"])
    result = {"recall_at_1": round(recall_at_1(selector, dev, k), 4), "dev_candidates": k, "dev_pairs": len(dev),
              "train_pairs_per_epoch": len(items), "pairs_per_source": stats["pairs_per_source"],
              "pool_pairs": pool_pairs,
              "steps": len(losses), "final_loss": curve[-1]["loss"] if curve else None,
              "layers": model.encoder_config.num_hidden_layers,
              "parameters": sum(p.numel() for p in model.parameters()),
              "train_runtime_s": round(train_s, 1), "wall_s": round(time.time() - t0, 1),
              "threads": torch.get_num_threads(), "command": cfg.get("command", "duihua train reply-ranker")}
    write_train_result(output_dir, result)
    from models.reply.selection_card import write_selection_card

    write_selection_card(output_dir, cfg, result, curve)
    return {k: v for k, v in result.items() if not isinstance(v, dict | list)}
