"""The request scorer's network (``scorer.py`` explains the model and runs it).

    [CLS] c1..cn [SEP] -> BERT (the lowest ``encoder_layers`` layers of the shared encoder) -> H
    logit = MLP([h_CLS; mean(h_1..h_n)])

Why a module of its own: it imports transformers (seconds at start-up), which ``scorer.py`` needs only for
``backend="torch"``, for training, or to export the ONNX graph on a cache miss.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel

from models.common.onnx import export_logits
from models.encoder.modeling import copy_encoder_weights, truncated_config
from models.splitter.config import RequestScorerCheckpoint, ScorerHeadConfig

MODEL_INPUTS = ("input_ids", "attention_mask")
__all__ = ["MODEL_INPUTS", "RequestScorerModel", "build_scorer", "export_onnx"]


class RequestScorerModel(RequestScorerCheckpoint, nn.Module):
    """The network; file names, type tag and head config come from ``config.py`` (read without transformers)."""

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


def export_onnx(folder: Path, path: Path) -> None:
    """Load the checkpoint and export it as ``(input_ids, attention_mask) -> logits`` (one per piece): called
    on an ONNX cache miss only, so a warm cache never builds the model."""
    model = RequestScorerModel.load(folder)
    example = {k: torch.ones((2, 8), dtype=torch.long) for k in MODEL_INPUTS}
    export_logits(model, example, path, {k: {0: "batch", 1: "seq"} for k in MODEL_INPUTS} | {"logits": {0: "batch"}})
