"""The request scorer: is this piece of unpunctuated text exactly one complete request (or sentence)?

    [CLS] c1..cn [SEP] -> BERT (the lowest ``encoder_layers`` layers of the shared encoder) -> H
    logit = MLP([h_CLS; mean(h_1..h_n)])

The boundary tagger looks at a gap with both sides in view; this model looks at a candidate piece alone,
which is the question the joint decoder (``models/splitter/joint.py``) asks: would the piece stand on its
own as a request? It is trained on whole sentences against the pieces wrong cuts leave
(``models/splitter/pieces.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import BertConfig, BertModel

from models.common.char_ids import CharIds
from models.common.onnx import BACKENDS, OnnxRunner, export, load_runner
from models.common.persistence import WEIGHTS_FILE, SavableModel
from models.common.precision import length_batches
from models.encoder.modeling import copy_encoder_weights, truncated_config
from models.splitter.features import collate as splitter_collate
from models.splitter.features import splitter_view
from models.tokenization import load_tokenizer

CONFIG_FILE = "request_scorer.json"
MODEL_INPUTS = ("input_ids", "attention_mask")


@dataclass
class ScorerHeadConfig:
    mlp_dim: int = 256
    dropout: float = 0.1


class RequestScorerModel(SavableModel, nn.Module):
    CONFIG_FILE = CONFIG_FILE
    MODEL_TYPE = "duihua-request-scorer"
    HEAD_CONFIG = ScorerHeadConfig
    TRAIN_COMMAND = "duihua train request-scorer"

    def __init__(self, encoder_config: BertConfig, head: ScorerHeadConfig) -> None:
        super().__init__()
        d = self.init_encoder(encoder_config, head)
        self.head = nn.Sequential(nn.Dropout(head.dropout), nn.Linear(2 * d, head.mlp_dim), nn.GELU(),
                                  nn.Dropout(head.dropout), nn.Linear(head.mlp_dim, 1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(h.dtype)
        mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1)
        logits = self.head(torch.cat([h[:, 0], mean], dim=-1)).squeeze(-1)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return out


def build_scorer(encoder: BertModel, encoder_layers: int | None, head: ScorerHeadConfig) -> RequestScorerModel:
    model = RequestScorerModel(truncated_config(encoder, encoder_layers), head)
    copy_encoder_weights(model.encoder, encoder)
    return model


def encode_piece(text: str, char_ids: CharIds, max_chars: int, label: float | None = None) -> dict[str, np.ndarray]:
    """The piece in the splitter's view (no punctuation, folded digits/Latin), cut to ``max_chars``."""
    ex = {"input_ids": char_ids.encode(splitter_view(text)[0][:max_chars])}
    if label is not None:
        ex["labels"] = np.asarray(label, dtype=np.float32)
    return ex


def collate(batch: Sequence[Mapping[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    out = splitter_collate([{"input_ids": ex["input_ids"]} for ex in batch])
    if "labels" in batch[0]:
        out["labels"] = torch.tensor([float(ex["labels"]) for ex in batch])
    return out


class _LogitsOnly(nn.Module):
    def __init__(self, model: RequestScorerModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):  # noqa: ANN001, ANN201
        return self.model(input_ids=input_ids, attention_mask=attention_mask)["logits"]


class RequestScorer:
    """``log_probabilities(texts)``: log P(complete request) per piece, batched by length."""

    def __init__(self, model: RequestScorerModel, char_ids: CharIds, batch_chars: int = 8192,
                 onnx: OnnxRunner | None = None) -> None:
        self.model, self.char_ids, self.batch_chars, self.onnx = model.eval(), char_ids, batch_chars, onnx
        self.max_chars = model.encoder_config.max_position_embeddings - 2

    @classmethod
    def from_pretrained(cls, folder: str | Path, backend: str = "torch", cache_dir: str | Path = "~/.cache/duihua",
                        batch_chars: int = 8192) -> RequestScorer:
        folder = RequestScorerModel.check_folder(folder)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        model = RequestScorerModel.load(folder)
        runner = None
        if backend != "torch":
            example = {k: torch.ones((2, 8), dtype=torch.long) for k in MODEL_INPUTS}
            runner = load_runner(backend, [folder / CONFIG_FILE, folder / WEIGHTS_FILE], cache_dir,
                                 partial(_export, model, example))
        return cls(model, CharIds.from_tokenizer(load_tokenizer(folder)), batch_chars, runner)

    @torch.inference_mode()
    def log_probabilities(self, texts: Sequence[str]) -> list[float]:
        items = [encode_piece(t, self.char_ids, self.max_chars) for t in texts]
        out = [0.0] * len(texts)
        for chunk in length_batches([len(x["input_ids"]) for x in items], self.batch_chars):
            batch = collate([items[k] for k in chunk])
            logits = self.onnx(batch) if self.onnx is not None else self.model(**batch)["logits"]
            logp = nn.functional.logsigmoid(logits.float()).tolist()
            for k, v in zip(chunk, logp, strict=True):
                out[k] = v
        return out


def _export(model: RequestScorerModel, example: dict[str, torch.Tensor], path: Path) -> None:
    export(_LogitsOnly(model), example, ["logits"], path, {k: {0: "batch", 1: "seq"} for k in MODEL_INPUTS}
           | {"logits": {0: "batch"}})
