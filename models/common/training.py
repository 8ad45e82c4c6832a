"""One way to train every stage: Hugging Face ``Trainer`` with duihua's conventions.

* seeds everything (``transformers.set_seed``) before the model is built;
* evaluates on a schedule, keeps the best checkpoint by the configured metric, stops early on a plateau;
* resumes from the newest complete ``checkpoint-*`` in the output folder after a kill (``resume: auto``;
  a folder a kill left half-written is skipped);
* appends every log record (loss, lr, eval metrics, step, epoch, wall time) to ``metrics.jsonl``;
* uses the GPU and bf16/fp16 when present, plain fp32 on CPU;
* works under ``torchrun --nproc_per_node=N`` (DDP; gloo on CPU) because Trainer does.

Config: ``conf/trainer/default.yaml`` holds TrainingArguments values; stage configs override them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    EarlyStoppingCallback,
    PreTrainedModel,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import (
    ADAPTER_SAFE_WEIGHTS_NAME,
    ADAPTER_WEIGHTS_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
)

from models.common.errors import TrainConfigError
from models.common.precision import cpu_supports_bf16

log = logging.getLogger(__name__)
CHECKPOINT_RE = re.compile(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)")
# what Trainer.train(resume_from_checkpoint=...) accepts as the model's weights (one of them must be there)
WEIGHTS_FILES = (SAFE_WEIGHTS_NAME, WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_INDEX_NAME,
                 ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME)


class ListDataset(torch.utils.data.Dataset):
    """Pre-encoded examples held in memory (the stages' corpora fit easily)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


class JsonlMetricsCallback(TrainerCallback):
    """Append each log record, with wall time since start, to ``<output_dir>/metrics.jsonl`` (rank 0 only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.t0 = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - HF callback signature
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "epoch": state.epoch, "wall_s": round(time.time() - self.t0, 1),
                  **{k: v for k, v in logs.items() if isinstance(v, int | float | str)}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


class HeadLRTrainer(Trainer):
    """Trainer with a separate learning rate for everything outside ``model.encoder`` (``head_learning_rate``).

    Why: a task head and new embedding tables (segmenter bigrams) start from random init and need a larger step
    than the pre-trained encoder, which a single learning rate either under-trains or disturbs.
    """

    head_learning_rate: float | None = None

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:  # noqa: ANN001 - HF signature
        if self.optimizer is not None or not self.head_learning_rate:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        groups = []
        for head in (False, True):
            for decayed in (True, False):
                params = [p for n, p in opt_model.named_parameters()
                          if p.requires_grad and n.startswith("encoder.") != head and (n in decay) == decayed]
                if params:
                    group = {"params": params, "weight_decay": self.args.weight_decay if decayed else 0.0}
                    if head:
                        group["lr"] = self.head_learning_rate
                    groups.append(group)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer


def write_loss_curve(folder: Path, history: Sequence[Mapping[str, Any]],
                     keys: Sequence[str] = ("step", "loss", "eval_loss")) -> None:
    """``loss_curve.json`` for a model card: the ``keys`` of each logged record that has more than the step."""
    curve = [{k: r[k] for k in keys if k in r} for r in history]
    (Path(folder) / "loss_curve.json").write_text(json.dumps([c for c in curve if len(c) > 1], indent=1))


def save_trained(model: Any, tokenizer: Any, folder: Path, history: Sequence[Mapping[str, Any]],
                 **save_kwargs: Any) -> None:
    """What every fine-tuned stage writes for its checkpoint: the model's own ``save`` (fp16 weights + JSON
    config; ``save_kwargs`` pass through, e.g. a delta base), the tokenizer, and the loss curve."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder, **save_kwargs)
    tokenizer.save_pretrained(str(folder))
    write_loss_curve(folder, history)


def run_record(trainer: Trainer, metrics: Mapping[str, Any], t0: float) -> dict[str, Any]:
    """The model card's figures about the run itself: optimizer steps, final eval loss, the Trainer's own
    training time (the wall time since ``t0`` when it logged none) and the wall time so far."""
    wall = time.time() - t0
    runtime = next((r["train_runtime"] for r in reversed(trainer.state.log_history) if "train_runtime" in r), wall)
    return {"steps": trainer.state.global_step, "eval_loss": metrics.get("eval_loss"),
            "train_runtime_s": round(float(runtime), 1), "wall_s": round(wall, 1)}


def write_train_result(folder: Path, result: Mapping[str, Any]) -> None:
    """``train_result.json``: what the model card is rendered from, and what a resumed run (distillation's
    reused teachers, ``eval_only``) reads back."""
    (Path(folder) / "train_result.json").write_text(json.dumps(result, indent=1, ensure_ascii=False),
                                                    encoding="utf-8")


def precision_flags(cpu_bf16: bool = False) -> dict[str, bool]:
    """bf16 where the GPU supports it, else fp16 on GPU; on CPU fp32, or bf16 autocast when ``cpu_bf16`` is
    set and the CPU has native bf16 (about 1.3x faster training for the small models, same dev scores)."""
    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return {"bf16": True, "fp16": False}
        return {"bf16": False, "fp16": True}
    if cpu_bf16 and cpu_supports_bf16():
        return {"bf16": True, "fp16": False, "use_cpu": True}  # Trainer refuses bf16 on CPU without use_cpu
    return {"bf16": False, "fp16": False}


def training_arguments(output_dir: str | Path, trainer_cfg: Mapping[str, Any]) -> TrainingArguments:
    """TrainingArguments from a plain mapping (the ``trainer`` config group), plus device-aware precision."""
    own_keys = {"resume", "early_stopping_patience", "cpu_bf16", "head_learning_rate"}
    kwargs = {k: v for k, v in dict(trainer_cfg).items() if k not in own_keys}
    kwargs.setdefault("report_to", "none")
    for key, value in precision_flags(bool(trainer_cfg.get("cpu_bf16"))).items():
        kwargs.setdefault(key, value)
    if not torch.cuda.is_available():
        kwargs.setdefault("dataloader_pin_memory", False)  # pinned memory only speeds up host-to-GPU copies
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            kwargs.setdefault("ddp_backend", "gloo")  # torchrun on CPU: NCCL needs GPUs
    return TrainingArguments(output_dir=str(output_dir), **kwargs)


def find_resume_checkpoint(output_dir: str | Path, resume: str | bool | None) -> str | None:
    """``auto``: the newest complete checkpoint in output_dir if any; a path: that checkpoint (refused when it
    is incomplete); false/None: start fresh."""
    if resume in (None, False, "false", "never"):
        return None
    if resume in (True, "auto"):
        return newest_complete_checkpoint(output_dir)
    if not Path(str(resume)).is_dir():
        raise TrainConfigError(f"trainer.resume: checkpoint folder not found: {resume}")
    problem = checkpoint_problem(Path(str(resume)))
    if problem:
        raise TrainConfigError(f"trainer.resume: {resume} is not a complete checkpoint ({problem})")
    return str(resume)


def newest_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The ``checkpoint-<step>`` folder with the highest step whose files are all there.

    Why not ``get_last_checkpoint``: a run killed while saving leaves a newer folder without its trainer state,
    Trainer refuses to resume from it ("Can't find a valid checkpoint"), and every later ``resume: auto`` run
    would fail the same way until someone deletes it. Incomplete folders are skipped with a warning.
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := CHECKPOINT_RE.fullmatch(p.name))]
    for _, path in sorted(steps, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            return str(path)
        log.warning("skipping incomplete checkpoint %s (%s; a save was interrupted?)", path, problem)
    return None


def checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` cannot be resumed from, or None. Trainer writes the weights first and
    ``trainer_state.json`` last, so a state file that parses, next to weights, marks a finished save."""
    if not any((path / name).is_file() and (path / name).stat().st_size > 0 for name in WEIGHTS_FILES):
        return f"no weights file ({', '.join(WEIGHTS_FILES)})"
    state = path / TRAINER_STATE_NAME
    try:
        parsed = json.loads(state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {TRAINER_STATE_NAME}"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{TRAINER_STATE_NAME} unreadable: {exc}"
    if not isinstance(parsed, dict) or "global_step" not in parsed:
        return f"{TRAINER_STATE_NAME} has no global_step"
    return None


def run_training(
    model: PreTrainedModel,
    train_dataset: Any,
    eval_dataset: Any,
    data_collator: Callable | None,
    output_dir: str | Path,
    trainer_cfg: Mapping[str, Any],
    compute_metrics: Callable | None = None,
    preprocess_logits_for_metrics: Callable | None = None,
    trainer_cls: type[Trainer] = Trainer,
    callbacks: Sequence[TrainerCallback] = (),
) -> tuple[Trainer, dict[str, float]]:
    """Train (or resume), then evaluate the best model; returns the trainer and the final eval metrics."""
    output_dir = Path(output_dir)
    args = training_arguments(output_dir, trainer_cfg)
    callbacks = [JsonlMetricsCallback(output_dir / "metrics.jsonl"), *callbacks]
    patience = trainer_cfg.get("early_stopping_patience")
    if patience and args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=int(patience)))
    if trainer_cfg.get("head_learning_rate"):
        trainer_cls = type(f"{trainer_cls.__name__}WithHeadLR", (HeadLRTrainer, trainer_cls), {})
        trainer_cls.head_learning_rate = float(trainer_cfg["head_learning_rate"])
    trainer = trainer_cls(
        model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
        data_collator=data_collator, compute_metrics=compute_metrics, callbacks=callbacks,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics)
    resume = find_resume_checkpoint(output_dir, trainer_cfg.get("resume", "auto"))
    if resume:
        log.warning("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    metrics = trainer.evaluate() if eval_dataset is not None else {}
    return trainer, {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


__all__ = ["JsonlMetricsCallback", "ListDataset", "checkpoint_problem", "find_resume_checkpoint",
           "newest_complete_checkpoint", "run_training", "set_seed", "training_arguments"]
