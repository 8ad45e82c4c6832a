"""A plain fixed-step training loop for small data (few-shot sets, the few-shot bench).

Why not ``run_training`` (HF Trainer): with 50–300 examples a run is a few hundred steps, and Trainer's
per-run setup, checkpointing and evaluation machinery costs as much as the training itself; the bench trains
about a hundred such models. This loop does only what those runs need: seeded shuffling, AdamW on the
parameters that require grad (two learning rates: encoder and the rest), linear warmup/decay, gradient
clipping, and a progress bar.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from tqdm import tqdm


def epoch_batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def steps_for(n: int, batch_size: int, epochs: float, max_steps: int | None = None, min_steps: int = 0) -> int:
    """``epochs`` passes over ``n`` examples, clipped to ``[min_steps, max_steps]``."""
    steps = max(1, round(epochs * -(-n // batch_size)))
    if max_steps:
        steps = min(steps, int(max_steps))
    return max(steps, int(min_steps))


def optimizer_for(model: nn.Module, lr: float, head_lr: float | None, weight_decay: float = 0.01,
                  encoder_prefixes: Sequence[str] = ("encoder.", "bert.", "mlm.")) -> torch.optim.Optimizer:
    """AdamW over trainable parameters: ``lr`` for the pre-trained side (encoder, or the whole masked LM of a
    cloze model, prompts included), ``head_lr`` for the new task head."""
    groups: dict[bool, list[nn.Parameter]] = {True: [], False: []}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups[name.startswith(tuple(encoder_prefixes))].append(p)
    params = [{"params": groups[True], "lr": lr},
              {"params": groups[False], "lr": head_lr or lr}]
    return torch.optim.AdamW([g for g in params if g["params"]], weight_decay=weight_decay)


def train_steps(model: nn.Module, items: Sequence[Any], loss_fn: Callable[[nn.Module, list[Any]], torch.Tensor],
                steps: int, lr: float, head_lr: float | None = None, batch_size: int = 16, seed: int = 0,
                warmup: float = 0.1, clip: float = 1.0, desc: str = "train") -> list[float]:
    """Train ``model`` for ``steps`` batches of ``items``; ``loss_fn(model, batch)`` returns the loss.
    Returns the per-step losses."""
    rng = random.Random(seed)
    opt = optimizer_for(model, lr, head_lr)
    warm = max(1, int(warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.train()
    losses: list[float] = []
    batches: list[list[int]] = []
    for _ in tqdm(range(steps), desc=desc, unit="step", disable=None, leave=False):
        if not batches:
            batches = epoch_batches(len(items), batch_size, rng)
        batch = [items[i] for i in batches.pop()]
        loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(trainable, clip)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses
