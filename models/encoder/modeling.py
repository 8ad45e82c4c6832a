"""Build or load the shared BERT encoder from an ``encoder`` config node.

* duihua sizes (``tiny``, ``small``): a fresh ``BertConfig`` from ``architecture`` for pre-training, or the
  pre-trained checkpoint at ``pretrained`` (a folder written by ``duihua train pretrain``).
* ``hf``: any local folder or hub name (``bert-base-chinese``) with its own tokenizer; duihua's granularity and
  [unusedN] tokens are added and the embeddings resized, so every stage can use it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel, AutoModelForMaskedLM, BertConfig, PreTrainedModel, PreTrainedTokenizerBase

from models.tokenization import add_duihua_special_tokens, load_tokenizer


def bert_config(architecture: Mapping[str, Any], vocab_size: int, pad_token_id: int) -> BertConfig:
    return BertConfig(vocab_size=vocab_size, pad_token_id=pad_token_id, **dict(architecture))


def load_encoder(pretrained: str | Path, mlm: bool = False, **kwargs: Any
                 ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` from a folder or hub name, adding duihua's special tokens when missing.

    ``mlm=True`` returns the masked-LM model (encoder + tied LM head), else the bare encoder.
    """
    tokenizer = load_tokenizer(pretrained)
    added = add_duihua_special_tokens(tokenizer)
    cls = AutoModelForMaskedLM if mlm else AutoModel
    model = cls.from_pretrained(str(pretrained), **kwargs)
    if added or model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer


def truncated_config(encoder: PreTrainedModel, layers: int | None) -> BertConfig:
    """The encoder's config keeping only its lowest ``layers`` layers (``None`` keeps all): task models that
    need less depth than pre-training (segmentation, boundaries) buy speed this way."""
    config = BertConfig(**encoder.config.to_dict())
    if layers:
        config.num_hidden_layers = min(layers, config.num_hidden_layers)
    return config


def copy_encoder_weights(target: torch.nn.Module, encoder: PreTrainedModel) -> None:
    """Load a pre-trained encoder's weights into ``target`` (a BertModel, possibly with fewer layers)."""
    state = {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler.")}
    missing, unexpected = target.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.startswith("encoder.layer.")]  # the truncated upper layers
    if missing or unexpected:
        raise ValueError(f"encoder weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
