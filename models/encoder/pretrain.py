"""Masked-LM pre-training of duihua's small Chinese BERT with whole-word masking (``duihua train pretrain``).

Pipeline: read the corpus (``corpus.py``) -> build the character vocabulary and tokenizer -> tokenize with word
ids -> hold out ``data.heldout_percent`` % (by a stable hash of the text, so the split never changes) ->
``BertForMaskedLM`` from ``encoder.architecture`` -> ``run_training`` (HF Trainer: length-grouped batches,
dynamic padding, eval + checkpoints on a schedule, resume after a kill) -> held-out MLM accuracy and
perplexity -> fp16 safetensors + tokenizer + model card in ``output_dir``.

Whole-word masking: words are chosen at random until ``mlm.probability`` of the characters are covered, and
every character of a chosen word is a prediction target (80% [MASK], 10% random character, 10% unchanged),
so the model cannot recover a character from the rest of its own word. Word boundaries are gold for the
segmented news corpora and jieba's elsewhere.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm
from transformers import BertForMaskedLM, PreTrainedTokenizerBase
from transformers.modeling_outputs import MaskedLMOutput

from models.common.training import run_training, set_seed, write_train_result
from models.encoder.corpus import iter_corpus
from models.encoder.modeling import bert_config
from models.tokenization import SPECIAL_TOKENS, build_tokenizer, build_vocab, count_chars

log = logging.getLogger(__name__)


class WordMaskedDataset(Dataset):
    """Tokenized examples: ``input_ids`` (no [CLS]/[SEP]) and ``word_ids`` per character, as int32 arrays."""

    def __init__(self, ids: list[np.ndarray], words: list[np.ndarray]) -> None:
        self.ids, self.words = ids, words

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return {"input_ids": self.ids[i], "word_ids": self.words[i]}


def encode_examples(examples: Sequence[list[str]], tokenizer: PreTrainedTokenizerBase, batch: int = 2048
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Tokenize ``"".join(words)`` and map each token to its word through the character offsets."""
    all_ids, all_words = [], []
    for i in tqdm(range(0, len(examples), batch), desc="tokenize", unit="batch", disable=None):
        chunk = examples[i : i + batch]
        enc = tokenizer(["".join(w) for w in chunk], add_special_tokens=False, return_offsets_mapping=True)
        for words, ids, offsets in zip(chunk, enc["input_ids"], enc["offset_mapping"], strict=True):
            char_word = np.repeat(np.arange(len(words), dtype=np.int32), [len(w) for w in words])
            all_ids.append(np.asarray(ids, dtype=np.int32))
            all_words.append(char_word[[start for start, _ in offsets]] if ids else char_word[:0])
    return all_ids, all_words


class WholeWordMaskCollator:
    """Adds [CLS]/[SEP], pads to the longest example in the batch, and masks whole words."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, probability: float = 0.15, seed: int = 0,
                 whole_word: bool = True) -> None:
        self.cls, self.sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.pad, self.mask = tokenizer.pad_token_id, tokenizer.mask_token_id
        self.first_regular = len(SPECIAL_TOKENS)  # random replacements are real characters, never specials
        self.vocab_size = len(tokenizer)
        self.probability = probability
        self.whole_word = whole_word
        self.rng = random.Random(seed)

    def mask_example(self, ids: np.ndarray, word_ids: np.ndarray, rng: random.Random) -> tuple[list, list]:
        n = len(ids)
        units = np.unique(word_ids).tolist() if self.whole_word else list(range(n))
        position_of = word_ids if self.whole_word else np.arange(n)
        rng.shuffle(units)
        budget = max(1, round(n * self.probability))
        chosen: set[int] = set()
        covered = 0
        for unit in units:
            if covered >= budget:
                break
            size = int((position_of == unit).sum())
            if covered + size > budget + 2 and covered > 0:  # skip long words that would overshoot
                continue
            chosen.add(unit)
            covered += size
        inputs, labels = ids.tolist(), [-100] * n
        for pos in range(n):
            if int(position_of[pos]) in chosen:
                labels[pos] = inputs[pos]
                roll = rng.random()
                if roll < 0.8:
                    inputs[pos] = self.mask
                elif roll < 0.9:
                    inputs[pos] = rng.randrange(self.first_regular, self.vocab_size)
        return inputs, labels

    def __call__(self, batch: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows, label_rows = [], []
        for ex in batch:
            if "labels" in ex:  # pre-masked (held-out set): fixed masks make eval metrics comparable
                inputs, labels = list(ex["input_ids"]), list(ex["labels"])
            else:
                inputs, labels = self.mask_example(np.asarray(ex["input_ids"]), np.asarray(ex["word_ids"]), self.rng)
            rows.append([self.cls, *inputs, self.sep])
            label_rows.append([-100, *labels, -100])
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row, lab) in enumerate(zip(rows, label_rows, strict=True)):
            input_ids[i, : len(row)] = torch.tensor(row)
            labels[i, : len(lab)] = torch.tensor(lab)
            attention[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


class PreMaskedDataset(Dataset):
    def __init__(self, base: WordMaskedDataset, collator: WholeWordMaskCollator, seed: int) -> None:
        rng = random.Random(seed)
        self.items = []
        for i in range(len(base)):
            ex = base[i]
            inputs, labels = collator.mask_example(ex["input_ids"], ex["word_ids"], rng)
            self.items.append({"input_ids": inputs, "labels": labels})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


class SparseMLMBert(BertForMaskedLM):
    """BertForMaskedLM that, in training, projects only the masked positions onto the vocabulary.

    About 85% of positions carry no label, and the vocabulary projection is a large share of a small model's
    FLOPs, so this is a free speed-up. Evaluation keeps full logits (the metric needs them aligned with the
    labels). The weights and config are a plain BERT MLM: ``AutoModelForMaskedLM`` loads the checkpoint.
    """

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):  # noqa: ANN001
        if not self.training or labels is None:
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        selected = labels != -100
        logits = self.cls(hidden[selected])  # (n_masked, V)
        loss = torch.nn.functional.cross_entropy(logits, labels[selected])
        return MaskedLMOutput(loss=loss, logits=logits)


def mlm_argmax(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Keep only argmax ids: full-vocabulary logits for the whole held-out set would not fit in memory."""
    return logits.argmax(dim=-1)


def mlm_accuracy(eval_pred: Any) -> dict[str, float]:
    preds, labels = eval_pred.predictions, eval_pred.label_ids
    mask = labels != -100
    return {"mlm_accuracy": float((preds[mask] == labels[mask]).mean()) if mask.any() else 0.0}


def heldout(text: str, percent: float) -> bool:
    return zlib.crc32(text.encode("utf-8")) % 10000 < percent * 100


def prepare_data(cfg: Mapping[str, Any], tokenizer_dir: Path) -> tuple[Any, WordMaskedDataset, WordMaskedDataset, dict]:
    data_cfg = cfg["data"]
    examples = [words for _, words in iter_corpus(data_cfg["dir"], data_cfg["sources"], data_cfg["max_chars"],
                                                  data_cfg.get("files") or ())]
    limit = data_cfg.get("max_examples")
    if limit:
        rng = random.Random(cfg["seed"])
        examples = rng.sample(examples, min(limit, len(examples)))
    counts = count_chars("".join(w) for w in examples)
    tokenizer = build_tokenizer(build_vocab(counts, cfg["tokenizer"]["min_count"]),
                                model_max_length=cfg["encoder"]["architecture"]["max_position_embeddings"])
    tokenizer.save_pretrained(str(tokenizer_dir))
    is_heldout = [heldout("".join(w), data_cfg["heldout_percent"]) for w in examples]
    ids, words = encode_examples(examples, tokenizer)
    train = WordMaskedDataset([x for x, h in zip(ids, is_heldout, strict=True) if not h],
                              [x for x, h in zip(words, is_heldout, strict=True) if not h])
    dev = WordMaskedDataset([x for x, h in zip(ids, is_heldout, strict=True) if h],
                            [x for x, h in zip(words, is_heldout, strict=True) if h])
    stats = {"examples": len(examples), "train_examples": len(train), "heldout_examples": len(dev),
             "train_tokens": int(sum(len(x) for x in train.ids)), "vocab_size": len(tokenizer)}
    return tokenizer, train, dev, stats


def train(cfg: Mapping[str, Any], callbacks: Sequence[Any] = ()) -> dict[str, float]:
    """Run pre-training as configured; returns held-out metrics and throughput."""
    t0 = time.time()
    set_seed(cfg["seed"])
    work_dir, output_dir = Path(cfg["work_dir"]), Path(cfg["output_dir"])
    work_dir.mkdir(parents=True, exist_ok=True)
    tokenizer, train_ds, dev_ds, stats = prepare_data(cfg, work_dir / "tokenizer")
    log.warning("pre-training data: %s", stats)
    model = SparseMLMBert(bert_config(cfg["encoder"]["architecture"], len(tokenizer), tokenizer.pad_token_id))
    mlm = cfg["mlm"]
    collator = WholeWordMaskCollator(tokenizer, mlm["probability"], cfg["seed"], mlm["whole_word"])
    dev_masked = PreMaskedDataset(dev_ds, collator, seed=cfg["seed"] + 1)
    trainer, metrics = run_training(model, train_ds, dev_masked, collator, work_dir, cfg["trainer"],
                                    compute_metrics=mlm_accuracy, preprocess_logits_for_metrics=mlm_argmax,
                                    callbacks=callbacks)
    state = trainer.state
    wall = time.time() - t0
    train_runtime = next((r["train_runtime"] for r in reversed(state.log_history) if "train_runtime" in r), wall)
    tokens_per_example = stats["train_tokens"] / max(1, len(train_ds))
    effective = cfg["trainer"]["per_device_train_batch_size"] * trainer.args.world_size * \
        cfg["trainer"].get("gradient_accumulation_steps", 1)
    result = {
        "mlm_accuracy": metrics.get("eval_mlm_accuracy", float("nan")),
        "perplexity": math.exp(metrics["eval_loss"]) if "eval_loss" in metrics else float("nan"),
        "eval_loss": metrics.get("eval_loss", float("nan")),
        "steps": state.global_step,
        "train_runtime_s": round(float(train_runtime), 1),
        "tokens_per_s": round(state.global_step * effective * (tokens_per_example + 2) / max(train_runtime, 1e-9), 1),
        "wall_s": round(wall, 1),
        **stats,
    }
    if trainer.is_world_process_zero():
        export(trainer.model, tokenizer, output_dir, cfg, result, state.log_history)
    return result


def export(model: BertForMaskedLM, tokenizer: PreTrainedTokenizerBase, output_dir: Path, cfg: Mapping[str, Any],
           result: Mapping[str, Any], history: list[dict]) -> None:
    """fp16 safetensors + config + tokenizer + loss curve + model card: a folder ``load_encoder`` can read."""
    output_dir.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(str(output_dir))
    model.float()
    tokenizer.save_pretrained(str(output_dir))
    curve = [{k: r[k] for k in ("step", "loss", "eval_loss", "eval_mlm_accuracy") if k in r} for r in history]
    (output_dir / "loss_curve.json").write_text(json.dumps([c for c in curve if len(c) > 1], indent=1))
    write_train_result(output_dir, result)
    from models.encoder.model_card import write_model_card

    write_model_card(output_dir, cfg, result, curve)
