"""Which numeric precision a model runs in, decided once from the hardware.

``auto`` picks bf16 autocast where the hardware computes bf16 natively (CPUs with AVX512-BF16 or AMX, and
CUDA GPUs that support it) and fp32 elsewhere: on a CPU without native bf16, autocast would emulate it and
run slower than fp32. Weights stay fp32 in memory; only matrix products run in bf16.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")


@cache
def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 dot products (AVX512-BF16 / AMX), read from ``/proc/cpuinfo``."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``auto`` -> ``bf16`` or ``fp32`` for ``device``; explicit values are checked and returned."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if torch.device(device).type == "cuda":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for a resolved ``bf16`` precision, else nothing (fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def length_batches(lengths: Sequence[int], batch_chars: int) -> Iterator[list[int]]:
    """Indices of sequences grouped into batches of at most ``batch_chars`` padded characters.

    Sorted by length, so the last sequence of a batch sets its padded width: mixed lengths waste little
    padding, and a batch never holds more than ``batch_chars`` characters (one sequence always fits)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and (j - i + 1) * max(1, lengths[order[j]]) <= batch_chars:
            j += 1
        yield order[i:j]
        i = j
