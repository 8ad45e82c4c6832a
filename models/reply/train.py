"""``duihua train reply``: the prefix-LM reply generator, initialised from the pre-trained encoder.

Steps: read the chat sources (``data.py``) -> a weighted, capped training mix and the multi-turn ``valid`` dev
pairs (also written as a ``duihua eval reply`` TSV) -> encode ``[CLS] context [SEP] | response [SEP]`` ->
``PrefixLMBert`` with the encoder's MLM weights (``model.init: pretrained``) or random ones (``scratch``, the
plain seq2seq baseline) -> ``run_training`` (HF Trainer: length-grouped batches, checkpoints, resume) -> fp16
BERT MLM + tokenizer + ``reply.json`` -> dev perplexity, BLEU and distinct with the configured decoding, and
example exchanges drawn with a fixed seed -> model card.

Losses (``objectives``): the target LM loss always; the source MLM loss with weight ``mlm_weight`` (0 turns it
off) on ``mlm_probability`` of the source characters of an ``mlm_rows`` share of the rows.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import BertConfig

from models.common.errors import TrainConfigError
from models.common.training import ListDataset, run_record, run_training, set_seed, write_loss_curve, write_train_result
from models.encoder.modeling import load_encoder
from models.reply.data import (
    SOURCES,
    ChatPair,
    dev_pairs,
    load_source,
    missing_files,
    training_mix,
    write_tsv,
)
from models.reply.decoding import DecodingConfig
from models.reply.features import PrefixLMCollator, encode_pair
from models.reply.inference import InputLimits, ReplyGenerator, save_limits
from models.reply.metrics import reply_scores
from models.reply.modeling import PrefixLMBert
from models.tokenization import SPECIAL_TOKENS

log = logging.getLogger(__name__)
EXAMPLE_SEED = 20261122  # the model card's example exchanges: a fixed draw, never hand-picked
N_EXAMPLES = 10


def check_config(cfg: Mapping[str, Any]) -> None:
    """Fail in a second, before data loading, on what a user can get wrong."""
    data, model = cfg["data"], cfg["model"]
    unknown = sorted(set(data["weights"]) - set(SOURCES))
    if unknown:
        raise TrainConfigError(f"data.weights: unknown sources {unknown}; known: {list(SOURCES)}")
    if not any(float(w) > 0 for w in data["weights"].values()):
        raise TrainConfigError("data.weights: every source has weight 0, nothing to train on")
    if model["init"] not in ("pretrained", "scratch"):
        raise TrainConfigError(f"model.init: expected pretrained or scratch, got {model['init']!r}")
    limits = model["limits"]
    if limits["max_source_chars"] + limits["max_target_chars"] + 1 > 256:
        raise TrainConfigError("model.limits: max_source_chars + max_target_chars + 1 must fit 256 positions")
    try:
        DecodingConfig(**cfg["decoding"])
    except (TypeError, ValueError) as exc:
        raise TrainConfigError(str(exc)) from exc
    missing = missing_files(Path(data["dir"]), [s for s, w in data["weights"].items() if float(w) > 0])
    if missing:
        raise TrainConfigError(f"data.dir={data['dir']}: missing {missing}")


def build_model(cfg: Mapping[str, Any]) -> tuple[PrefixLMBert, Any]:
    """The encoder's MLM weights in a PrefixLMBert (``pretrained``), or the same shape at random (``scratch``,
    keeping the encoder's tokenizer so both variants see identical inputs)."""
    encoder, tokenizer = load_encoder(cfg["encoder"]["pretrained"], mlm=True, dtype=torch.float32)
    config = BertConfig(**encoder.config.to_dict())
    config.architectures = ["BertForMaskedLM"]
    model = PrefixLMBert(config)
    if cfg["model"]["init"] == "pretrained":
        model.load_state_dict(encoder.state_dict())
    model.mlm_weight = float(cfg["objectives"]["mlm_weight"])
    return model.float(), tokenizer


def encode_all(pairs: Sequence[ChatPair], tokenizer: Any, limits: InputLimits, desc: str) -> list[dict]:
    return [encode_pair(tokenizer, p.context, p.response, limits.max_source_chars, limits.max_turns,
                        limits.max_target_chars) for p in tqdm(pairs, desc=desc, unit="pair", disable=None)]


def load_data(cfg: Mapping[str, Any], limits: InputLimits) -> tuple[list[ChatPair], list[ChatPair], dict]:
    data = cfg["data"]
    data_dir = Path(data["dir"])
    dev = dev_pairs(data_dir, limits.max_turns)
    dev_keys = {(p.query, p.response) for p in dev}
    pools, counts = {}, {}
    for source, weight in data["weights"].items():
        if float(weight) <= 0:
            continue
        pairs = load_source(data_dir, source, limits.max_turns, int(data["subtitle_max_chars"]))
        pools[source] = list(dict.fromkeys(p for p in pairs if (p.query, p.response) not in dev_keys))
        counts[source] = len(pools[source])
    mix = training_mix(pools, data["weights"], data.get("caps") or {}, cfg["seed"])
    return mix, dev, {"pairs_per_source": counts, "train_pairs_per_epoch": len(mix), "dev_pairs": len(dev)}


def evaluate(generator: ReplyGenerator, dev: Sequence[ChatPair], decoding: DecodingConfig, batch_size: int = 32
             ) -> tuple[dict[str, float], list[str]]:
    """Perplexity of the references, then BLEU / distinct of the decoded replies (single-turn, as the TSV)."""
    ppl = generator.perplexity([((p.query,), p.response) for p in dev])
    replies = [r.text for r in generator.generate([(p.query,) for p in dev], decoding, batch_size, "decode dev")]
    return {**reply_scores(replies, [p.response for p in dev]), "ppl": round(ppl, 2)}, replies


def rescore(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``eval_only=true``: re-score the generator already in ``output_dir`` with the configured decoding and
    rewrite its metrics and card; the training record (command, steps, time, data) is kept."""
    output_dir = Path(cfg["output_dir"])
    record = output_dir / "train_result.json"
    if not record.is_file():
        raise TrainConfigError(f"eval_only=true: no trained generator in {output_dir} (missing train_result.json)")
    result = json.loads(record.read_text(encoding="utf-8"))
    result.setdefault("command", "duihua train reply")
    dev = dev_pairs(Path(cfg["data"]["dir"]), int(cfg["model"]["limits"]["max_turns"]))
    return score_and_card(cfg, output_dir, dev, result)


def train(cfg: Mapping[str, Any], callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    t0 = time.time()
    check_config(cfg)
    if cfg.get("eval_only"):
        return rescore(cfg)
    set_seed(cfg["seed"])
    limits = InputLimits(**cfg["model"]["limits"])
    work_dir, output_dir, dev_dir = Path(cfg["work_dir"]), Path(cfg["output_dir"]), Path(cfg["dev_dir"])
    mix, dev, stats = load_data(cfg, limits)
    write_tsv(dev, dev_dir / "lccc_valid.tsv")
    model, tokenizer = build_model(cfg)
    log.warning("reply data: %s", stats)
    objectives = cfg["objectives"]
    collator = PrefixLMCollator(tokenizer, float(objectives["mlm_probability"]), cfg["seed"],
                                first_regular_id=len(SPECIAL_TOKENS), mlm_rows=float(objectives["mlm_rows"]))
    train_ds = ListDataset(encode_all(mix, tokenizer, limits, "encode train"))
    eval_ds = ListDataset(encode_all(dev, tokenizer, limits, "encode dev"))
    trainer, metrics = run_training(model, train_ds, eval_ds, collator, work_dir, cfg["trainer"],
                                    callbacks=callbacks)
    output_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.half().save_pretrained(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    save_limits(output_dir, limits)
    history = trainer.state.log_history
    write_loss_curve(output_dir, history)

    result = {**run_record(trainer, metrics, t0), "parameters": sum(p.numel() for p in model.parameters()), **stats,
              "command": cfg.get("command", "duihua train reply")}
    return score_and_card(cfg, output_dir, dev, result)


def score_and_card(cfg: Mapping[str, Any], output_dir: Path, dev: Sequence[ChatPair], result: dict[str, Any]
                   ) -> dict[str, Any]:
    """Dev metrics of the saved (fp16) generator with ``cfg.decoding``, example exchanges, train_result.json
    and the model card."""
    generator = ReplyGenerator.from_pretrained(output_dir)  # score what was shipped: the fp16 weights
    decoding = DecodingConfig(**cfg["decoding"])
    scores, replies = evaluate(generator, dev, decoding)
    picks = sorted(random.Random(EXAMPLE_SEED).sample(range(len(dev)), min(N_EXAMPLES, len(dev))))
    examples = [{"context": [dev[i].query], "reference": dev[i].response, "reply": replies[i]} for i in picks]
    result = {**result, **scores, "eval_lm_loss": round(math.log(scores["ppl"]), 4),
              "decoding": dict(decoding.__dict__), "examples": examples}
    write_train_result(output_dir, result)
    from models.reply.model_card import write_model_card

    write_model_card(output_dir, {**cfg, "command": result["command"]}, result)
    return {k: v for k, v in result.items() if not isinstance(v, dict | list)}
