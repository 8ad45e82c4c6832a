"""Start-up: how long until duihua answers its first query, next to ``python -c "import torch"`` in the same run.

Rows (each the median of ``--repeats`` runs, after one untimed run that warms the ONNX and gazetteer caches):

* ``import torch``: the reference a user already knows (``python -c "import torch"``);
* ``duihua run "打开qq"`` with the default config, and with ``reply=none``: wall time of the whole command;
* ``duihua serve`` until ``/readyz`` answers 200 (models loaded and warmed up), then stopped.

Each row also gives the peak RSS of the process (for ``serve``, its RSS once ready), and the run says whether a
default-config process imports ``torch`` and ``transformers`` at all (read from ``sys.modules`` at exit of an
equivalent in-process ``pipeline.cli.main`` call). ``ratio_to_import_torch`` is a row's median over the
``import torch`` median: the number to compare across machines.

Usage: ``flock /tmp/duihua-timing.lock python bench/startup.py [--repeats 5] [--text 打开qq] [overrides...]``;
prints the table, then one JSON line.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pipeline.report import print_report

ROOT = Path(__file__).resolve().parents[1]
DUIHUA = [sys.executable, "-m", "pipeline.cli"]
MODULES_PROBE = ("import sys, atexit\n"
                 "atexit.register(lambda: print('MODULES', 'torch' in sys.modules, 'transformers' in sys.modules,"
                 " file=sys.stderr))\n"
                 "from pipeline.cli import main\n"
                 "sys.exit(main(sys.argv[1:]))\n")


def timed_with_rss(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, from ``wait4``) of one command run to completion, output discarded."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, env, file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                                        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_until_ready(overrides: list[str], env: dict[str, str], timeout_s: float = 300) -> tuple[float, float]:
    """Seconds from starting ``duihua serve`` until ``/readyz`` is 200, and its RSS (MB) then."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([*DUIHUA, "serve", f"server.port={port}", "server.log_requests=false", *overrides],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    try:
        while time.perf_counter() - t0 < timeout_s:
            if proc.poll() is not None:
                raise SystemExit(f"duihua serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as res:
                    if res.status == 200:
                        seconds = time.perf_counter() - t0
                        rss_kb = int(Path(f"/proc/{proc.pid}/status").read_text().split("VmRSS:")[1].split()[0])
                        return seconds, rss_kb / 1024
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"duihua serve not ready within {timeout_s} s")
    finally:
        proc.terminate()
        proc.wait()


def imports_of(args: list[str], env: dict[str, str]) -> tuple[bool, bool]:
    """Whether an in-process ``duihua`` call with ``args`` ends with torch / transformers imported."""
    out = subprocess.run([sys.executable, "-c", MODULES_PROBE, *args], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    line = next((ln for ln in out.stderr.splitlines() if ln.startswith("MODULES")), None)
    if line is None:
        raise SystemExit(f"duihua {' '.join(args)} failed: {out.stderr.strip().splitlines()[-1:]}")
    _, torch, transformers = line.split()
    return torch == "True", transformers == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--text", default="打开qq")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every duihua command")
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="duihua-startup-")
    env = {**os.environ, "DUIHUA_CACHE_DIR": cache}
    commands = {
        "import torch": [sys.executable, "-c", "import torch"],
        f"duihua run {args.text}": [*DUIHUA, "run", "--compact", args.text, *args.overrides],
        f"duihua run reply=none {args.text}": [*DUIHUA, "run", "--compact", "reply=none", args.text,
                                               *args.overrides],
    }
    for cmd in commands.values():
        timed_with_rss(cmd, env)  # warm: ONNX exports, gazetteer automata, the OS page cache
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in [*commands, "duihua serve -> /readyz"]}
    for _ in range(args.repeats):  # rows take turns, so load drifts alike for all of them
        for name, cmd in commands.items():
            samples[name].append(timed_with_rss(cmd, env))
        samples["duihua serve -> /readyz"].append(serve_until_ready(args.overrides, env))
    torch_s = statistics.median(s for s, _ in samples["import torch"])
    rows, metrics = [], {}
    for name, runs in samples.items():
        seconds = statistics.median(s for s, _ in runs)
        rss = statistics.median(r for _, r in runs)
        rows.append([name, round(seconds, 2), round(seconds / torch_s, 2), round(rss)])
        metrics[name] = {"median_s": round(seconds, 3), "ratio_to_import_torch": round(seconds / torch_s, 2),
                         "peak_rss_mb": round(rss)}
    torch_used, transformers_used = imports_of(["run", "--compact", args.text, *args.overrides], env)
    metrics["default_run_imports"] = {"torch": torch_used, "transformers": transformers_used}
    metrics["repeats"] = args.repeats
    print(f"start-up, median of {args.repeats} (warm caches); default `duihua run` imports torch: {torch_used}, "
          f"transformers: {transformers_used}")
    print_report(["command", "median_s", "ratio_to_import_torch", "rss_mb"], rows, metrics)


if __name__ == "__main__":
    main()
