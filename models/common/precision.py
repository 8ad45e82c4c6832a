"""Which numeric precision a model runs in, decided once from the hardware.

``auto`` picks bf16 autocast where the hardware computes bf16 natively (CPUs with AVX512-BF16 or AMX, and
CUDA GPUs that support it) and fp32 elsewhere: on a CPU without native bf16, autocast would emulate it and
run slower than fp32. Weights stay fp32 in memory; only matrix products run in bf16.
"""

from __future__ import annotations

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
