"""``duihua run --input FILE --engine ray``: a long input file through Ray actors that each keep one pipeline.

Why Ray actors fed by the driver, rather than Ray Data reading the file: only the machine the command runs on is
sure to see the input file, every line must be checked with its line number, and output line N must answer input
line N. So the driver reads the file as a stream and sends blocks of checked queries to the actors, keeping a
bounded window of blocks in flight (memory follows the block size, not the file), and writes each block's results
in input order as they come back. Ray supplies the hard part: worker processes on this machine or a cluster, and
recovery. An actor whose process dies is restarted, rebuilding its pipeline, and the block it held is retried
(``max_restarts``, ``max_task_retries``); the driver writes only blocks that came back, so a lost worker loses no
line and writes none twice.

A bad line goes to ``--errors`` (``{"line": N, "error": ...}``) and its output line is ``null``, so that a long job
does not stop at line 90,000 and line numbers still align; without ``--errors`` the file is checked first, in a
streaming pass, and the first bad line stops the command as in the one-process path.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.errors import InputError

INSTALL_HINT = "--engine ray needs Ray: pip install 'duihua[ray]'"


@dataclass(frozen=True)
class RayJob:
    """What one ``duihua run --engine ray`` does; ``address=None`` starts a local Ray cluster for the job."""

    input: Path
    output: Path | None
    errors: Path | None
    overrides: Sequence[str]
    workers: int = 2
    address: str | None = None
    block_lines: int = 256
    max_chars: int = 2000
    reference_time: datetime | None = None


def import_ray() -> Any:  # noqa: ANN401 - the ray module
    try:
        import ray
    except ImportError as exc:
        raise InputError(INSTALL_HINT) from exc
    return ray


class PipelineWorker:
    """One Ray actor: builds the pipeline once (one intra-op thread: the actors share the machine's cores) and
    answers blocks of queries with their results as JSON lines."""

    def __init__(self, overrides: Sequence[str]) -> None:
        """A user's config mistake is kept for ``ready`` to hand back, not raised: an actor whose constructor
        raises is retried by Ray without end, and the driver could only show the traceback."""
        from models.common.onnx import set_intra_op_threads
        from pipeline.errors import DuihuaError
        from pipeline.pipeline import Pipeline

        set_intra_op_threads(1)
        self.error: DuihuaError | None = None
        try:
            self.pipe = Pipeline.from_config(list(overrides))
        except DuihuaError as exc:
            self.error = exc

    def ready(self) -> tuple[int, Exception | None]:
        """This process's id, and the config error that stopped the pipeline from building, if one did."""
        return os.getpid(), self.error

    def process(self, queries: list) -> tuple[list[str], int, int]:
        """Results of ``queries`` in order, this process's id and its peak RSS in KiB (the bench checks that it
        stays flat over a job, and a restarted worker shows up as a new id)."""
        results = [r.model_dump_json() for r in self.pipe.batch(queries)] if queries else []
        return results, os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_job(job: RayJob) -> dict[str, Any]:
    """Run ``job``; the summary: lines written, bad lines, workers, their process ids and those of workers Ray
    restarted, and per process the peak RSS after its first block, a quarter, half and all of its blocks. A
    config error surfaces before any line is read, from building the first actors."""
    from tqdm import tqdm

    if job.errors is None:
        for _ in checked_blocks(job, stop_at_error=True):  # the validate-first pass: the first bad line stops here
            pass
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:  # a local cluster gets a slot per worker even on a smaller machine: they then share cores
        cpus = {} if job.address else {"num_cpus": max(job.workers, os.cpu_count() or 1)}
        ray.init(address=job.address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                 configure_logging=False, **cpus)
    try:
        worker = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(PipelineWorker)
        actors = [worker.remote(list(job.overrides)) for _ in range(job.workers)]
        pids = _built(ray, actors)
        rss: dict[int, list[int]] = {}
        total = count_lines(job.input)
        with contextlib.ExitStack() as files, tqdm(total=total, unit="query", desc="duihua run (ray)",
                                                    disable=None, file=sys.stderr) as bar:
            out = files.enter_context(_open(job.output, "--output")) if job.output else sys.stdout
            err = files.enter_context(_open(job.errors, "--errors")) if job.errors else None
            written = bad = 0
            window: deque = deque()
            for i, block in enumerate(checked_blocks(job, stop_at_error=False)):
                queries = [q for _, q in block if not isinstance(q, InputError)]
                window.append((block, actors[i % len(actors)].process.remote(queries)))
                if len(window) > 2 * len(actors):
                    written, bad = _write_block(ray, window.popleft(), out, err, rss, written, bad, bar)
            while window:
                written, bad = _write_block(ray, window.popleft(), out, err, rss, written, bad, bar)
        return {"engine": "ray", "lines": written, "bad_lines": bad, "workers": len(actors), "pids": pids,
                "restarted": sorted(set(rss) - set(pids)),
                "rss_quartiles_kib": {str(k): [v[0], v[len(v) // 4], v[len(v) // 2], v[-1]] for k, v in rss.items()}}
    finally:
        if started_here:
            ray.shutdown()


def _built(ray: Any, actors: list) -> list[int]:  # noqa: ANN401
    """Wait for every actor's pipeline; the process ids, or the first config error, raised here in one line."""
    ready = ray.get([a.ready.remote() for a in actors])
    for _, error in ready:
        if error is not None:
            raise error
    return [pid for pid, _ in ready]


def _write_block(ray: Any, item: tuple, out: Any, err: Any, rss: dict, written: int, bad: int,  # noqa: ANN401
                 bar: Any) -> tuple[int, int]:  # noqa: ANN401
    block, ref = item
    results, pid, peak = ray.get(ref)
    rss.setdefault(pid, []).append(peak)
    answers = iter(results)
    for lineno, query in block:
        if isinstance(query, InputError):
            out.write("null\n")
            err.write(json.dumps({"line": lineno, "error": str(query)}, ensure_ascii=False) + "\n")
            bad += 1
        else:
            out.write(next(answers) + "\n")
        written += 1
    bar.update(len(block))
    return written, bad


def checked_blocks(job: RayJob, stop_at_error: bool) -> Iterator[list[tuple[int, Any]]]:
    """The input as blocks of ``(line number, Query or the InputError of a bad line)``, read as a stream."""
    from pipeline.cli import iter_lines, line_query

    block: list[tuple[int, Any]] = []
    for lineno, raw in iter_lines(job.input):
        try:
            block.append((lineno, line_query(raw, job.input, lineno, job.max_chars, job.reference_time)))
        except InputError as exc:
            if stop_at_error:
                raise
            block.append((lineno, exc))
        if len(block) == job.block_lines:
            yield block
            block = []
    if block:
        yield block


def local_worker_pids() -> list[int]:
    """Process ids of this machine's batch workers (Ray titles them ``ray::PipelineWorker``), read from /proc:
    what a test or bench kills to check that a lost worker loses no line."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "cmdline").read_bytes().startswith(b"ray::PipelineWorker"):
                    pids.append(int(proc.name))
    return pids


def count_lines(path: Path) -> int:
    """Lines as ``iter_lines`` counts them, for the progress bar: a final line without ``\\n`` counts too."""
    n, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


@contextlib.contextmanager
def _open(path: Path, option: str) -> Iterator[Any]:
    try:
        fh = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write ({exc.strerror or exc})") from exc
    with fh:
        yield fh
