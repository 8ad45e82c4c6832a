"""Dynamic micro-batching: many concurrent HTTP requests, one ``Pipeline.batch`` call.

Why: on a CPU the neural stages cost little more for sixteen short sentences than for one (per-call overhead
and thread start-up dominate), so under load, running the requests that arrive within a few milliseconds as one
batch multiplies throughput. One worker thread owns the models: torch calls never run concurrently (no
oversubscribed intra-op threads, no locks in the stages), and the asyncio loop stays free to parse requests.

Flow: ``submit(queries)`` appends a job (the queries plus an asyncio future) to a bounded queue; when it is full
``QueueFull`` is raised (the server answers 503 + Retry-After). A collector task waits for the first job, then
for more until ``max_batch`` queries are queued or ``max_wait_ms`` has passed since that first job arrived, and
hands them to the worker thread. While a batch runs, new jobs queue up; the next batch is formed from them at
once, so batches grow with the load on their own and an idle server adds at most ``max_wait_ms`` latency.

Isolation: one request cannot hurt the others. A batch that raises anything (a refused query, or a bug a
hostile text triggers in a stage) is rerun request by request, so only the request that raised gets the error.
A batch holds at most ``max_batch`` queries and ``max_batch_chars`` characters (a single longer query runs
alone): model time grows with characters, not queries, so a few long texts would otherwise hold the model
thread for seconds. A request larger than that runs in chunks; after each chunk the rest of it goes to the back
of the queue, so requests that arrived meanwhile are not stuck behind it, and a request the
server has given up on (timed out, client gone: its future is cancelled) is skipped, remaining chunks included,
so it stops holding the model thread.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pipeline.errors import DuihuaError
from pipeline.pipeline import Pipeline
from pipeline.schema import PipelineResult, Query

log = logging.getLogger("duihua.http")
WARM_UP_TEXT = "我想听周杰伦的稻香"  # the first torch call of a process is slow; /readyz waits for this one


def heap_trimmer() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None elsewhere.

    Why: batches of varying shapes leave the glibc heap fragmented, and freed memory is not given back, so a
    server's RSS crept up ~0.5 MB per batch (477 -> 567 MB over 100 batches) though Python objects did not grow;
    one trim returned it all (-> 464 MB). A trim costs ~5 ms, so the worker does it at most every
    ``trim_interval_s``.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    return (lambda: trim(0)) if trim is not None else None


class QueueFull(Exception):
    """More requests are waiting than ``server.queue_size``; the caller should retry later."""


class ShuttingDown(Exception):
    """The server stopped before this request was processed."""


@dataclass
class Job:
    """One request's queries and where its answer goes. Timing fields feed the request log.

    ``taken`` queries have been handed to the model thread so far and ``results`` holds the answers of those
    that ran: a request over ``max_batch`` queries is computed a chunk at a time.
    """

    queries: list[Query]
    future: asyncio.Future[list[PipelineResult]]
    enqueued: float = field(default_factory=time.perf_counter)
    started: float = 0.0
    batch_size: int = 0  # queries in the first batch it ran in
    chunks: int = 0      # batches it ran in
    taken: int = 0
    results: list[PipelineResult] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        """Queries not yet handed to the model thread."""
        return len(self.queries) - self.taken


@dataclass
class Chunk:
    """The part of one job that runs in a batch: ``job.queries[start:end]``."""

    job: Job
    start: int
    end: int

    @property
    def queries(self) -> list[Query]:
        return self.job.queries[self.start : self.end]


@dataclass
class BatcherStats:
    batches: int = 0
    queries: int = 0
    largest_batch: int = 0


class MicroBatcher:
    """Queues requests and runs them through ``pipe`` in batches, on one worker thread."""

    def __init__(self, pipe: Pipeline, max_batch: int = 32, max_wait_ms: float = 5.0, queue_size: int = 512,
                 trim_interval_s: float = 1.0, max_batch_chars: int = 2000) -> None:
        self.pipe = pipe
        self.trim_interval_s = trim_interval_s
        self._trim = heap_trimmer() if trim_interval_s > 0 else None
        self._last_trim = 0.0
        self.max_batch = max_batch
        self.max_batch_chars = max_batch_chars
        self.max_wait_s = max_wait_ms / 1000.0
        self.queue_size = queue_size
        self.stats = BatcherStats()
        self._pending: collections.deque[Job] = collections.deque()
        self._pending_queries = 0
        self._wakeup: asyncio.Event | None = None
        self._collector: asyncio.Task[None] | None = None
        self._warm_up: asyncio.Future[object] | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the worker thread and the collector; warm the models up in the background (see ``ready``)."""
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duihua-models")
        self._wakeup = asyncio.Event()
        warm_up_text = WARM_UP_TEXT[: self.pipe.runtime.max_chars]  # within the limit, whatever it is set to
        self._warm_up = loop.run_in_executor(self._executor, self.pipe.batch, [warm_up_text])
        self._collector = loop.create_task(self._collect(), name="duihua-batcher")

    async def stop(self) -> None:
        """Fail what is still queued (the server is going away), let a running batch finish, stop the thread."""
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
        while self._pending:
            job = self._pending.popleft()
            if not job.future.done():
                job.future.set_exception(ShuttingDown("the server is shutting down"))
        self._pending_queries = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._collector = self._executor = None

    @property
    def running(self) -> bool:
        return self._collector is not None and not self._collector.done()

    @property
    def ready(self) -> bool:
        """Models loaded and warmed up, and the collector running."""
        return self.running and self._warm_up is not None and self._warm_up.done() and not self._warm_up.exception()

    @property
    def warm_up_error(self) -> str | None:
        """Why the warm-up batch failed (the models cannot serve), for /readyz."""
        if self._warm_up is None or not self._warm_up.done() or self._warm_up.cancelled():
            return None
        exc = self._warm_up.exception()
        return f"{exc.__class__.__name__}: {exc}" if exc is not None else None

    @property
    def queued(self) -> int:
        return len(self._pending)

    # -- requests ------------------------------------------------------------------------------------------
    def submit(self, queries: list[Query]) -> Job:
        """Queue ``queries`` as one job; await ``job.future`` for their results (one per query, in order)."""
        if not self.running or self._wakeup is None:
            raise ShuttingDown("the server is not running")
        if len(self._pending) >= self.queue_size:
            raise QueueFull(f"{len(self._pending)} requests are queued (server.queue_size={self.queue_size})")
        job = Job(queries, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self._pending_queries += len(queries)
        self._wakeup.set()
        return job

    async def _collect(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # wait for company, measured from the first job's arrival: jobs that queued behind a running batch
            # have waited long enough and go at once
            deadline = self._pending[0].enqueued + self.max_wait_s
            while self._pending_queries < self.max_batch and (remaining := deadline - time.perf_counter()) > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
            chunks = self._take()
            if chunks:
                await self._run(loop, chunks)

    def _take(self) -> list[Chunk]:
        """Up to ``max_batch`` queries and ``max_batch_chars`` characters (at least one query), first come first
        served, skipping requests already given up.

        A job with more queries than fit goes in part; its rest is queued again at the back, so one large
        request takes turns with the others instead of holding the model thread for all of its queries.
        """
        chunks: list[Chunk] = []
        room, chars = self.max_batch, self.max_batch_chars
        while self._pending and room > 0:
            job = self._pending.popleft()
            if job.future.done():  # timed out or cancelled while queued: do not spend the models on it
                self._pending_queries -= job.remaining
                continue
            n, used = self._fitting(job, room, chars, first=not chunks)
            if n == 0:  # its next query does not fit in what is left of this batch: it leads the next one
                self._pending.appendleft(job)
                break
            chars -= used
            chunks.append(Chunk(job, job.taken, job.taken + n))
            job.taken += n
            room -= n
            self._pending_queries -= n
            if job.remaining:
                self._pending.append(job)
        return chunks

    @staticmethod
    def _fitting(job: Job, room: int, chars: int, first: bool) -> tuple[int, int]:
        """How many of ``job``'s next queries fit in ``room`` queries and ``chars`` characters, and their
        characters; the first query of a batch always fits, whatever its length."""
        n = used = 0
        for query in job.queries[job.taken : job.taken + room]:
            if used + len(query.text) > chars and not (first and n == 0):
                break
            n += 1
            used += len(query.text)
        return n, used

    async def _run(self, loop: asyncio.AbstractEventLoop, chunks: list[Chunk]) -> None:
        size = sum(c.end - c.start for c in chunks)
        started = time.perf_counter()
        for c in chunks:
            if not c.job.chunks:
                c.job.started, c.job.batch_size = started, size
            c.job.chunks += 1
        try:
            outcomes = await loop.run_in_executor(self._executor, self._process, [c.queries for c in chunks])
        except asyncio.CancelledError:  # stopped mid-batch: nobody is left waiting in vain
            for c in chunks:
                if not c.job.future.done():
                    c.job.future.set_exception(ShuttingDown("the server is shutting down"))
            raise
        except Exception as exc:  # a bug outside the stages: this batch's requests get it, the loop goes on
            log.exception("batch of %d failed", size)
            outcomes = [exc] * len(chunks)
        self.stats.batches += 1
        self.stats.queries += size
        self.stats.largest_batch = max(self.stats.largest_batch, size)
        for c, outcome in zip(chunks, outcomes, strict=True):
            self._deliver(c, outcome)

    @staticmethod
    def _deliver(chunk: Chunk, outcome: list[PipelineResult] | BaseException) -> None:
        """Answer the job once its last chunk is in, or at the first error (its other chunks are then skipped)."""
        job = chunk.job
        if job.future.done():  # the client timed out meanwhile
            return
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
            return
        job.results.extend(outcome)
        if chunk.end == len(job.queries):
            job.future.set_result(job.results)

    def _process(self, groups: list[list[Query]]) -> list[list[PipelineResult] | BaseException]:
        """Worker thread: one batch, one outcome per job. If the batch raises anything, each job is rerun
        alone, so only the one that raises (an unknown lexicon, a text that trips a bug) gets its error and
        its neighbours their results."""
        try:
            try:
                results = self.pipe.batch([q for g in groups for q in g])
            except Exception as exc:
                if len(groups) == 1:
                    _log_if_bug(exc, len(groups[0]))
                    return [exc]
            else:
                out: list[list[PipelineResult] | BaseException] = []
                i = 0
                for g in groups:
                    out.append(list(results[i : i + len(g)]))
                    i += len(g)
                return out
            return [self._alone(g) for g in groups]
        finally:
            if self._trim is not None and time.perf_counter() - self._last_trim >= self.trim_interval_s:
                self._trim()
                self._last_trim = time.perf_counter()

    def _alone(self, queries: list[Query]) -> list[PipelineResult] | BaseException:
        try:
            return list(self.pipe.batch(queries))
        except Exception as exc:
            _log_if_bug(exc, len(queries))
            return exc


def _log_if_bug(exc: Exception, n_queries: int) -> None:
    """A refused query (``DuihuaError``) is the client's mistake and its answer says so; anything else is a
    bug in a stage, logged with its traceback (its request gets a 500)."""
    if not isinstance(exc, DuihuaError):
        log.error("request of %d queries failed in the pipeline", n_queries, exc_info=exc)
