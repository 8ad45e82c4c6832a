"""Token ids for the generator: ``[CLS] turn [SEP] ... turn [SEP] | response [SEP]`` and the training batches.

Over-long input is cut, never rejected: the oldest turns go first, then the start of the oldest kept turn
(the latest words of a conversation matter most for the reply); responses keep their first
``max_target_chars`` characters.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tokenizers import Tokenizer

from models.tokenization import EXTRA_KEYS, TOKENIZER_FILE, load_special_tokens

if TYPE_CHECKING:  # transformers takes seconds to import; ONNX generation uses ReplyTokenizer instead
    from transformers import PreTrainedTokenizerBase



class ReplyTokenizer:
    """The part of a saved fast tokenizer that generation (and perplexity) use, read with the ``tokenizers``
    library alone: ids of text and special tokens, the special set, and decoding. Why: importing
    transformers costs seconds, and on ONNX it was needed for nothing else. Same ids and text as
    ``load_tokenizer(folder)`` (``tests/models/test_onnx_light_intent_reply.py``)."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.core = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.core.no_truncation()   # transformers' __call__ truncates and pads only when asked to
        self.core.no_padding()
        self.vocab = self.core.get_vocab(with_added_tokens=True)
        tokens = load_special_tokens(folder)
        ids = {key: self.vocab.get(token) for key, token in tokens.items() if isinstance(token, str)}
        self.unk_token_id, self.sep_token_id = ids.get("unk_token"), ids.get("sep_token")
        self.pad_token_id, self.cls_token_id, self.mask_token_id = (ids.get("pad_token"), ids.get("cls_token"),
                                                                     ids.get("mask_token"))
        extra = [self.vocab.get(t) for key in EXTRA_KEYS for t in tokens.get(key) or ()]
        self.all_special_ids = sorted({i for i in [*ids.values(), *extra] if i is not None})

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": self.core.encode(text, add_special_tokens=add_special_tokens).ids}

    def __len__(self) -> int:
        return self.core.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """The Rust decoder transformers calls; its optional space clean-up is left out (replies drop spaces)."""
        return self.core.decode(list(ids), skip_special_tokens=skip_special_tokens)


@dataclass
class ReplyBatch:
    """Padded model inputs, as ``PrefixLMCollator`` builds them."""

    input_ids: torch.Tensor        # (B, T)
    token_type_ids: torch.Tensor   # (B, T)  0 source, 1 target
    attention: torch.Tensor        # (B, T)  1 real, 0 pad
    lm_labels: torch.Tensor        # (B, T)  next-token id at target-predicting positions, else -100
    mlm_labels: torch.Tensor       # (B, T)  original id at masked source positions, else -100


def source_ids(tokenizer: PreTrainedTokenizerBase | ReplyTokenizer, context: Sequence[str], max_source_chars: int,
               max_turns: int) -> list[int]:
    """``[CLS] t1 [SEP] t2 [SEP] ...`` for the latest ``max_turns`` turns within ``max_source_chars`` ids."""
    turns = [t for t in context if t and t.strip()][-max_turns:] if max_turns else []
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in turns]
    budget = max_source_chars - 1  # [CLS]
    kept: list[list[int]] = []
    for ids in reversed(encoded):
        if not ids:
            continue
        room = budget - sum(len(k) + 1 for k in kept) - 1  # this turn's [SEP]
        if room <= 0:
            break
        kept.insert(0, ids[-room:])
    out = [tokenizer.cls_token_id]
    for ids in kept:
        out += ids + [tokenizer.sep_token_id]
    if len(out) == 1:  # no usable context: an empty source still ends with [SEP], which predicts r_1
        out.append(tokenizer.sep_token_id)
    return out


def target_ids(tokenizer: PreTrainedTokenizerBase | ReplyTokenizer, response: str, max_target_chars: int) -> list[int]:
    return tokenizer(response, add_special_tokens=False)["input_ids"][:max_target_chars] + [tokenizer.sep_token_id]


def encode_pair(tokenizer: PreTrainedTokenizerBase | ReplyTokenizer, context: Sequence[str], response: str,
                max_source_chars: int, max_turns: int, max_target_chars: int) -> dict[str, Any]:
    src = source_ids(tokenizer, context, max_source_chars, max_turns)
    return {"input_ids": src + target_ids(tokenizer, response, max_target_chars), "source_len": len(src)}


class PrefixLMCollator:
    """Pads a batch, sets token types and next-token labels, and masks ``mlm_probability`` of the source
    characters for the source MLM loss (80 % [MASK], 10 % a random character, 10 % unchanged) in a
    ``mlm_rows`` share of the rows (masked sources are noise for the LM loss of the same row; the other rows
    keep generation trained on clean input, as it will see at inference)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase | ReplyTokenizer, mlm_probability: float = 0.15,
                 seed: int = 0, first_regular_id: int = 0, mlm_rows: float = 1.0) -> None:
        self.pad, self.mask = tokenizer.pad_token_id, tokenizer.mask_token_id
        self.special = set(tokenizer.all_special_ids)
        self.vocab_size = len(tokenizer)
        self.first_regular = first_regular_id
        self.mlm_probability = mlm_probability
        self.mlm_rows = mlm_rows  # share of rows whose source is masked; the rest train the LM on clean input
        self.rng = random.Random(seed)

    def __call__(self, items: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(it["input_ids"]) for it in items)
        b = len(items)
        input_ids = torch.full((b, width), self.pad, dtype=torch.long)
        types = torch.zeros((b, width), dtype=torch.long)
        attention = torch.zeros((b, width), dtype=torch.long)
        lm_labels = torch.full((b, width), -100, dtype=torch.long)
        mlm_labels = torch.full((b, width), -100, dtype=torch.long)
        for i, it in enumerate(items):
            ids, n_src = list(it["input_ids"]), int(it["source_len"])
            n = len(ids)
            lm_labels[i, n_src - 1 : n - 1] = torch.tensor(ids[n_src:])  # position j predicts token j+1
            if self.mlm_probability and self.rng.random() < self.mlm_rows:
                for j in range(1, n_src):
                    if ids[j] in self.special or self.rng.random() >= self.mlm_probability:
                        continue
                    mlm_labels[i, j] = ids[j]
                    roll = self.rng.random()
                    if roll < 0.8:
                        ids[j] = self.mask
                    elif roll < 0.9:
                        ids[j] = self.rng.randrange(self.first_regular, self.vocab_size)
            input_ids[i, :n] = torch.tensor(ids)
            types[i, n_src:n] = 1
            attention[i, :n] = 1
        return {"input_ids": input_ids, "token_type_ids": types, "attention_mask": attention,
                "lm_labels": lm_labels, "mlm_labels": mlm_labels}


def to_batch(tensors: Mapping[str, torch.Tensor]) -> ReplyBatch:
    return ReplyBatch(tensors["input_ids"], tensors["token_type_ids"], tensors["attention_mask"],
                      tensors["lm_labels"], tensors["mlm_labels"])
