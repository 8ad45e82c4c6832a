"""Batch jobs: ``duihua run --input`` in one process vs ``--engine ray --workers N``, same file, same run.

The file is ``--queries`` lines of SMP2017 dev queries, cycled. Each engine runs it as a user would, from the
command line with the NLU pipeline (``reply=none`` unless overridden) and one intra-op thread per worker, on a
warmed cache; wall time includes start-up (for Ray: starting a local cluster and building each worker's
pipeline), so the ratio is what a user gets. The outputs are compared line for line without their stage
timings. ``--kill-one`` adds a third run that SIGKILLs one Ray worker once output is flowing: the job must still
write every line once, in order, identical to the one-process output. Peak RSS per Ray worker is reported after
its first block, a quarter, half and all of its blocks (flat from the quarter on: it does not grow with the
file).

    flock /tmp/duihua-timing.lock python bench/batch.py [--queries 100000] [--workers 2] [--kill-one]
                                                        [overrides ...]

Prints a table, then one JSON line (queries/s of each engine, their ratio, identical, kill run result).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pipeline.batch_ray import local_worker_pids
from pipeline.report import print_report

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_TIME = "2026-12-01T10:00"


def untimed(path: Path) -> list:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [row and {k: v for k, v in row.items() if k != "timings_ms"} for row in rows]


def run(argv: list[str], env: dict[str, str], output: Path, kill_one: bool = False) -> tuple[float, str]:
    """Wall seconds of one ``duihua run`` and its stderr; with ``kill_one``, one Ray worker is killed mid-job."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *argv], env=env, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    killed: list[int] = []
    if kill_one:
        def kill() -> None:
            while proc.poll() is None and not (output.exists() and output.stat().st_size > 1 << 16):
                time.sleep(0.1)
            pids = local_worker_pids()
            if pids and proc.poll() is None:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
        threading.Thread(target=kill, daemon=True).start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"duihua {' '.join(argv)} failed ({proc.returncode}): {err[-2000:]}")
    if kill_one and not killed:
        raise SystemExit("the job ended before a worker could be killed; use more --queries")
    return seconds, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-one", action="store_true")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for both engines (default: reply=none)")
    args = parser.parse_args()
    overrides = args.overrides or ["reply=none"]
    pinned = ["--reference-time", REFERENCE_TIME]  # dates in the output resolve alike in every run
    data = Path(os.environ.get("DUIHUA_DATA", ROOT.parent / "shared" / "data"))
    texts = [json.loads(line)["query"] for line in (data / "nlu/smp2017/develop.jsonl").open(encoding="utf-8")]
    work = Path(tempfile.mkdtemp(prefix="duihua-batch-"))
    env = {**os.environ, "DUIHUA_CACHE_DIR": str(work / "cache"), "OMP_NUM_THREADS": "1"}
    src = work / "queries.txt"
    src.write_text("".join(texts[i % len(texts)] + "\n" for i in range(args.queries)), encoding="utf-8")
    warm = work / "warm.txt"
    warm.write_text("".join(t + "\n" for t in texts[:50]), encoding="utf-8")
    run(["run", "--input", str(warm), "--output", str(work / "warm.jsonl"), *pinned, *overrides], env,
        work / "warm.jsonl")

    local_out, ray_out = work / "local.jsonl", work / "ray.jsonl"
    local_s, _ = run(["run", "--input", str(src), "--output", str(local_out), *pinned, *overrides], env, local_out)
    ray_argv = ["run", "--input", str(src), "--output", str(ray_out), "--engine", "ray",
                "--workers", str(args.workers), *pinned, *overrides]
    ray_s, ray_err = run(ray_argv, env, ray_out)
    rss = [[int(x) for x in worker.split()] for worker in ray_err.rsplit("1/2, all:", 1)[-1].strip().split(",")]
    expected = untimed(local_out)
    identical = untimed(ray_out) == expected
    rows = [["one process", round(local_s, 1), round(args.queries / local_s, 1), 1.0, True],
            [f"ray, {args.workers} workers", round(ray_s, 1), round(args.queries / ray_s, 1),
             round(local_s / ray_s, 2), identical]]
    metrics = {"queries": args.queries, "workers": args.workers, "local_qps": round(args.queries / local_s, 1),
               "ray_qps": round(args.queries / ray_s, 1), "ratio": round(local_s / ray_s, 2), "identical": identical,
               "worker_peak_rss_mb_after_1_block_quarter_half_all": rss}
    if args.kill_one:
        kill_out = work / "kill.jsonl"
        kill_s, _ = run([*ray_argv[:4], str(kill_out), *ray_argv[5:]], env, kill_out, kill_one=True)
        survived = untimed(kill_out) == expected
        rows.append([f"ray, {args.workers} workers, one killed", round(kill_s, 1), round(args.queries / kill_s, 1),
                     round(local_s / kill_s, 2), survived])
        metrics["kill_one_identical"] = survived
    print_report(["engine", "wall_s", "queries_per_s", "ratio_to_one_process", "output_identical"], rows, metrics)


if __name__ == "__main__":
    main()
