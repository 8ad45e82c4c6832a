"""``duihua run --profile-startup``: where one command's start-up goes, on stderr (stdout keeps the result).

Why a profile of phases rather than a Python profiler: what a user can act on is which phase to skip (a
stage to switch off, a cold cache to warm, a torch import some stage triggered), and those are a handful of
wall-clock phases. ``bench/startup.py`` measures the same command's total against ``import torch``.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def since_process_start_ms() -> float | None:
    """Milliseconds since this process started (interpreter start-up and every import before the command)."""
    try:
        import psutil
    except ImportError:   # psutil comes with accelerate; without it the row is left out
        return None
    return (time.time() - psutil.Process().create_time()) * 1000


class StartupProfile:
    """Wall-clock phases in the order they ran; ``mark(phase)`` closes the phase that ends now."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float]] = []
        before = since_process_start_ms()
        if before is not None:
            self.rows.append(("python start-up, imports, arguments", before))
        self.stage_ms: dict[str, float] = {}   # filled by Pipeline.from_cfg(build_ms=...)
        self._t = time.perf_counter()

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.rows.append((phase, (now - self._t) * 1000))
        self._t = now

    def stages_built(self) -> None:
        """Close the build phase as one row per stage (what each spent), plus whatever the build did besides."""
        total = (time.perf_counter() - self._t) * 1000
        for name, ms in self.stage_ms.items():
            self.rows.append((f"build stage {name}", ms))
        self.rows.append(("build: the rest (runtime checks)", max(0.0, total - sum(self.stage_ms.values()))))
        self._t = time.perf_counter()

    def report(self, out: TextIO | None = None) -> None:
        out = out or sys.stderr
        width = max(len(phase) for phase, _ in self.rows)
        print(f"{'phase':<{width}}  {'ms':>8}", file=out)
        for phase, ms in self.rows:
            print(f"{phase:<{width}}  {ms:>8.1f}", file=out)
        print(f"{'total':<{width}}  {sum(ms for _, ms in self.rows):>8.1f}", file=out)
        heavy = [m for m in ("torch", "transformers") if m in sys.modules]
        print(f"imported: {', '.join(heavy) if heavy else 'neither torch nor transformers'}", file=out)
