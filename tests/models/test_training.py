"""Shared trainer options: the separate head learning rate, CPU precision flags, and resuming after a kill."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import torch
from torch import nn

from models.common.errors import TrainConfigError
from models.common.precision import resolve_precision
from models.common.training import (
    HeadLRTrainer,
    ListDataset,
    find_resume_checkpoint,
    run_training,
    training_arguments,
)


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


@pytest.mark.parametrize(("precision", "device", "cuda", "cpu_bf16", "expected"), [
    ("auto", "cuda", True, False, "fp16"),       # the rule: a CUDA GPU runs torch in fp16 by default
    ("auto", "cuda:0", True, True, "fp16"),
    ("auto", "cuda", False, True, "fp32"),       # asked for CUDA without one: nothing to autocast
    ("auto", "cpu", False, True, "bf16"),        # CPUs with native bf16
    ("auto", "cpu", True, False, "fp32"),        # a GPU in the box does not change what the CPU stage runs
    ("auto-gpu", "cuda", True, True, "fp16"),    # exact-on-CPU stages (splitter, intent) still halve on a GPU
    ("auto-gpu", "cpu", False, True, "fp32"),
    ("fp32", "cuda", True, True, "fp32"),        # explicit choices are kept
    ("bf16", "cuda", True, True, "bf16"),
])
def test_precision_resolution_per_device(precision, device, cuda, cpu_bf16, expected):  # noqa: ANN001
    assert resolve_precision(precision, device, cuda_available=cuda, cpu_bf16=cpu_bf16) == expected


def test_fp16_on_cpu_is_refused_with_the_fix_named():
    with pytest.raises(ValueError, match="runtime.device=cuda"):
        resolve_precision("fp16", "cpu")


# -- resume: auto after a kill during a checkpoint save -------------------------------------------------------
def _fake_checkpoint(folder, weights: bool = True, state: str | None = '{"global_step": 1}'):  # noqa: ANN001
    folder.mkdir(parents=True)
    if weights:
        (folder / "model.safetensors").write_bytes(b"\0" * 16)
    if state is not None:
        (folder / "trainer_state.json").write_text(state)
    return folder


def test_resume_auto_skips_checkpoints_a_kill_left_incomplete(tmp_path, caplog):
    good = _fake_checkpoint(tmp_path / "checkpoint-20")
    _fake_checkpoint(tmp_path / "checkpoint-40", state=None)                      # killed after the weights
    _fake_checkpoint(tmp_path / "checkpoint-60", state='{"global_step": 6')      # killed writing the state
    _fake_checkpoint(tmp_path / "checkpoint-80", weights=False, state=None)      # killed before the weights
    (tmp_path / "checkpoint-100.tmp").mkdir()                                    # not a checkpoint name
    with caplog.at_level(logging.WARNING, logger="models.common.training"):
        assert find_resume_checkpoint(tmp_path, "auto") == str(good)
    skipped = [r.getMessage() for r in caplog.records if "skipping incomplete checkpoint" in r.getMessage()]
    assert [m.split()[3] for m in skipped] == [str(tmp_path / f"checkpoint-{n}") for n in (80, 60, 40)]
    assert find_resume_checkpoint(tmp_path / "checkpoint-20" / "none", "auto") is None
    assert find_resume_checkpoint(tmp_path, "never") is None


def test_an_explicit_incomplete_resume_path_is_a_config_error(tmp_path):
    folder = _fake_checkpoint(tmp_path / "checkpoint-40", state=None)
    with pytest.raises(TrainConfigError, match=r"trainer.resume: .*checkpoint-40 is not a complete checkpoint "
                                               r"\(no trainer_state.json\)"):
        find_resume_checkpoint(tmp_path, str(folder))
    with pytest.raises(TrainConfigError, match="checkpoint folder not found"):
        find_resume_checkpoint(tmp_path, str(tmp_path / "missing"))


class TinyRegressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.head(torch.relu(self.encoder(x))).squeeze(-1)
        return {"loss": ((out - labels) ** 2).mean(), "logits": out}


def _train(work_dir, max_steps: int):  # noqa: ANN001, ANN202
    torch.manual_seed(0)
    data = ListDataset([{"x": torch.randn(4), "labels": torch.tensor(float(i % 2))} for i in range(8)])
    cfg = {"max_steps": max_steps, "save_strategy": "steps", "save_steps": 2, "eval_strategy": "no",
           "per_device_train_batch_size": 2, "learning_rate": 1e-2, "logging_steps": 1, "report_to": "none",
           "resume": "auto"}
    trainer, _ = run_training(TinyRegressor(), data, None, None, work_dir, cfg)
    return trainer


def test_a_real_resume_continues_past_a_half_written_checkpoint(tmp_path):
    assert _train(tmp_path, 4).state.global_step == 4                  # leaves checkpoint-2 and checkpoint-4
    shutil.copy(tmp_path / "checkpoint-4" / "model.safetensors", _fake_checkpoint(tmp_path / "checkpoint-6",
                                                                                state=None))
    _fake_checkpoint(tmp_path / "checkpoint-8", weights=False, state=None)
    assert _train(tmp_path, 10).state.global_step == 10                # from checkpoint-4, not a crash
    assert json.loads((tmp_path / "checkpoint-10" / "trainer_state.json").read_text())["global_step"] == 10
