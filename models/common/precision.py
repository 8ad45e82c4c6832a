"""Which numeric precision a model runs in, decided once from the hardware.

``auto`` picks fp16 autocast on a CUDA device (tensor cores; for inference fp16's 10 mantissa bits stay
closer to fp32 than bf16's 7, and the LayerNormed activations of these small BERTs sit well inside fp16's
range), bf16 autocast on CPUs that compute bf16 natively (AVX512-BF16 or AMX), and fp32 elsewhere: on a CPU
without native bf16, autocast would emulate it and run slower than fp32. ``auto-gpu`` is for stages that
must stay exact on CPU (bf16 flips the splitter's borderline boundaries): fp16 on CUDA, fp32 on CPU.
Weights stay fp32 in memory; only matrix products run in half precision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

PRECISIONS = ("auto", "auto-gpu", "fp32", "bf16", "fp16")


@cache
def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 dot products (AVX512-BF16 / AMX), read from ``/proc/cpuinfo``."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: str = "cpu", cuda_available: bool | None = None,
                      cpu_bf16: bool | None = None) -> str:
    """``auto``/``auto-gpu`` -> ``fp16``, ``bf16`` or ``fp32`` for ``device``; explicit values are checked and
    returned. ``cuda_available``/``cpu_bf16`` default to what this machine has (tests pass them)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    on_cuda = device_type(device) == "cuda"
    if precision == "fp16" and not on_cuda:
        raise ValueError("precision fp16 needs a CUDA device (runtime.device=cuda); on CPU use bf16 or fp32")
    if not precision.startswith("auto"):
        return precision
    if on_cuda:
        if cuda_available is None:
            import torch

            cuda_available = torch.cuda.is_available()
        return "fp16" if cuda_available else "fp32"
    if precision == "auto-gpu":
        return "fp32"
    return "bf16" if (cpu_supports_bf16() if cpu_bf16 is None else cpu_bf16) else "fp32"


def device_type(device: str) -> str:
    """``cuda`` for ``cuda``/``cuda:1``, ``cpu``..., as ``torch.device(device).type`` says, without importing
    torch: an ONNX pipeline checks its settings with this and never needs torch."""
    kind, _, index = device.partition(":")
    if not kind or (index and not index.isdigit()):
        raise ValueError(f"not a device: {device!r} (e.g. cpu, cuda, cuda:1)")
    return kind


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    """bf16/fp16 autocast for a resolved ``bf16``/``fp16`` precision, else nothing (fp32)."""
    if precision in ("bf16", "fp16"):
        import torch

        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device_type=device_type(device), dtype=dtype)
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
