"""Shared trainer options: the separate head learning rate and CPU precision flags."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.common.precision import resolve_precision
from models.common.training import HeadLRTrainer, training_arguments


class EncoderAndHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.encoder(x))}


def test_head_learning_rate_applies_outside_the_encoder_only(tmp_path):
    args = training_arguments(tmp_path, {"learning_rate": 1e-4, "weight_decay": 0.01, "report_to": "none"})
    trainer_cls = type("T", (HeadLRTrainer,), {"head_learning_rate": 3e-3})
    model = EncoderAndHead()
    optimizer = trainer_cls(model=model, args=args).create_optimizer()
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert {lr_of[id(p)] for p in model.encoder.parameters()} == {1e-4}
    assert {lr_of[id(p)] for p in model.head.parameters()} == {3e-3}
    assert len(lr_of) == sum(1 for _ in model.parameters())  # every parameter is optimised exactly once
    assert decay_of[id(model.head.bias)] == 0.0 and decay_of[id(model.head.weight)] == 0.01


def test_precision_auto_resolves_to_a_concrete_choice_and_rejects_nonsense():
    assert resolve_precision("auto") in {"fp32", "bf16"}
    assert resolve_precision("fp32") == "fp32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8")
