"""The HTTP server behind ``duihua serve``: FastAPI over a micro-batching ``Pipeline``, plus the web demo.

Endpoints: ``POST /v1/parse`` {text, session_id?, lexicons?, granularities?} -> PipelineResult;
``POST /v1/parse/batch`` {queries: [...]} -> {results: [...]}; ``GET /healthz`` (the process is alive);
``GET /readyz`` (models loaded and warmed up: 200, else 503); ``POST /v1/lexicons/reload`` (atomic hot reload;
``Authorization: Bearer <server.reload_token>`` when one is set, never from another web origin);
``GET /metrics`` (Prometheus text format, ``pipeline/http_metrics.py``); the demo page at ``/``; OpenAPI docs
at ``/docs``.

Every error is JSON ``{"error": one line}``: 400 bad request (unknown lexicon), 401/403 (reload without the
token or with a wrong one, cross-origin reload), 404, 408 (headers not read within ``server.read_timeout_s``),
413 (body over ``server.max_body_bytes``, text over ``runtime.max_chars``, request over
``server.max_request_chars``, too many queries), 422 (malformed body), 503 with Retry-After (queue full,
shutting down), 504 (not answered within ``server.timeout_s``), 500 (a bug; only that request gets it).

One hostile request cannot hurt the others: what can be refused is refused before it is queued (size, lexicon
names, malformed text); a request that trips a bug in a stage fails alone (``pipeline/batching.py`` reruns its
batch request by request); a large request runs in chunks of ``server.max_batch`` queries and
``server.max_batch_chars`` characters that take turns with other requests, and stops when it times out; a
client that trickles a request is cut off after ``server.read_timeout_s`` (``pipeline/http_transport.py``).

Models run on one worker thread (``pipeline/batching.py``); a lexicon reload runs on another and swaps the
gazetteer in one reference store, so batches in flight finish on the old lexicons and none is dropped.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.batching import Job, MicroBatcher, QueueFull, ShuttingDown, heap_trimmer
from pipeline.errors import DuihuaError
from pipeline.http_errors import ApiError, add_error_handlers, model_response, status_of
from pipeline.http_metrics import CountRequests, ServerMetrics
from pipeline.http_transport import BodyLimit, check_port_free, read_timeout, serve
from pipeline.pipeline import Pipeline, check_length
from pipeline.protocol import ChecksLexicons
from pipeline.resources import data_path
from pipeline.schema import PipelineResult, Query

log = logging.getLogger("duihua.http")
DEFAULT_DEMO = data_path("demo")  # the checkout's demo/, or the wheel's copy (pipeline.resources)
__all__ = ["ServerConfig", "check_port_free", "create_app", "read_timeout", "serve"]


class ServerConfig(BaseModel):
    """Typed view of ``cfg.server`` (conf/pipeline.yaml documents each key)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    threads: int | None = Field(1, ge=1)        # torch/ONNX intra-op threads; null: the library default
    max_batch: int = Field(32, ge=1)            # queries per pipeline call; 1 switches micro-batching off
    max_batch_chars: int = Field(2000, ge=1)    # characters per pipeline call (a longer single query runs alone)
    max_wait_ms: float = Field(5.0, ge=0)       # how long the first request of a batch waits for company
    queue_size: int = Field(512, ge=1)          # requests waiting for the models; beyond: 503 + Retry-After
    timeout_s: float = Field(10.0, gt=0)        # per request, queue wait included; beyond: 504
    read_timeout_s: float = Field(10.0, gt=0)   # to receive a whole request (headers and body); beyond: closed
    max_body_bytes: int = Field(1_048_576, gt=0)
    max_batch_queries: int = Field(256, ge=1)   # queries in one /v1/parse/batch request
    max_request_chars: int = Field(20_000, ge=1)  # characters of all texts in one request; beyond: 413
    reload_token: str | None = Field(None, min_length=1)  # POST /v1/lexicons/reload needs it as a Bearer token
    trim_memory_s: float = Field(1.0, ge=0)    # give freed heap back to the OS at most this often; 0: never
    log_requests: bool = True                   # one JSON log line per request, with per-stage timings
    demo: str | None = str(DEFAULT_DEMO)        # folder served at /; null: no demo


    @field_validator("demo")
    @classmethod
    def _demo_has_a_page(cls, demo: str | None) -> str | None:
        if demo is not None and not (Path(demo).expanduser() / "index.html").is_file():
            raise ValueError(f"no index.html in {demo} (server.demo=null serves no demo)")
        return demo


class BatchRequest(BaseModel):
    queries: list[Query] = Field(min_length=1)


class BatchResponse(BaseModel):
    results: list[PipelineResult]


def cross_origin(request: Request) -> str | None:
    """Why ``request`` comes from another web origin, or None (same origin, or not a browser).

    Why: ``POST /v1/lexicons/reload`` without a body is a CORS "simple request", which any web page a user of
    this machine opens may send; browsers mark such requests with ``Origin`` and ``Sec-Fetch-Site``, clients
    such as curl send neither.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-origin request refused (Sec-Fetch-Site: {site})"
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        return f"cross-origin request from {origin} refused"
    return None


def check_reload_allowed(request: Request, token: str | None) -> None:
    """401 without the Bearer token when ``server.reload_token`` is set, 403 with a wrong one or cross-origin."""
    refused = cross_origin(request)
    if refused:
        raise ApiError(403, refused)
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "reload needs Authorization: Bearer <server.reload_token>",
                       headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(403, "wrong reload token")


def check_request(queries: Sequence[Query], pipe: Pipeline, server: ServerConfig,
                  lexicon_checks: Sequence[ChecksLexicons]) -> None:
    """The checks that need no model, before queueing: a refused request never costs a batch.
    ``lexicon_checks``: the stages that check a query's ``lexicons`` (found once, when the app is made)."""
    several = len(queries) > 1
    total = 0
    for i, q in enumerate(queries):
        check_length(q.text, pipe.runtime.max_chars, f"query {i}" if several else "text")
        total += len(q.text)
    if total > server.max_request_chars:
        raise ApiError(413, f"{total} characters in one request is over the limit server.max_request_chars="
                            f"{server.max_request_chars}; send several requests")
    for lexicons in (q.lexicons for q in queries if q.lexicons is not None):
        for stage in lexicon_checks:
            stage.check_lexicons(lexicons)


class Service:
    """What the endpoints share: the pipeline, its micro-batcher, the server's limits, the stages that check
    a query's lexicons (found once), and the one-at-a-time lexicon reload. Endpoints reach it as
    ``request.app.state.service``."""

    def __init__(self, pipe: Pipeline, server: ServerConfig, cluster: Cluster | None = None) -> None:
        self.pipe, self.server, self.cluster = pipe, server, cluster
        self.batcher = MicroBatcher(pipe, server.max_batch, server.max_wait_ms, server.queue_size,
                                    server.trim_memory_s, server.max_batch_chars)
        self.lexicon_checks = [stage for _, stage in pipe.stages if isinstance(stage, ChecksLexicons)]
        self.reload_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._trim = heap_trimmer() if server.trim_memory_s > 0 else None
        self.metrics = ServerMetrics(lambda: self.batcher.queued)

    async def run(self, queries: list[Query], what: str) -> list[PipelineResult]:
        """Queue, wait (bounded by ``server.timeout_s``), log one JSON line; map failures to HTTP errors.

        On timeout ``wait_for`` cancels the job's future, which is what tells the batcher to skip the rest of it.
        """
        t0 = time.perf_counter()
        status, job = 200, None
        try:
            check_request(queries, self.pipe, self.server, self.lexicon_checks)
            job = self.batcher.submit(queries)
            return await asyncio.wait_for(job.future, self.server.timeout_s)
        except ApiError as exc:
            status = exc.status
            raise
        except QueueFull as exc:
            status = 503
            raise ApiError(503, f"server busy: {exc}; retry later", retry_after_s=1) from exc
        except ShuttingDown as exc:
            status = 503
            raise ApiError(503, str(exc), retry_after_s=1) from exc
        except TimeoutError as exc:
            status = 504
            raise ApiError(504, f"not answered within server.timeout_s={self.server.timeout_s:g} s "
                                f"({self.batcher.queued} requests queued)") from exc
        except DuihuaError as exc:
            status = status_of(exc)
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (nginx's code); its job is skipped if still queued
            raise
        except BaseException:
            status = 500
            raise
        finally:
            if status == 200 and job is not None:
                self.metrics.observe_run(job.batch_size, [r.timings_ms for r in job.future.result()])
            if self.server.log_requests:
                log_request(next(self._ids), what, queries, job, status, t0)

    async def reload(self) -> dict[str, object]:
        """Rebuild on a helper thread while the model thread keeps serving; one reload at a time. A replica
        (``cluster``) reloads every replica instead, all or none."""
        async with self.reload_lock:
            t0 = time.perf_counter()
            try:
                if self.cluster is not None:
                    changed = await self.cluster.reload()
                else:
                    changed = await asyncio.to_thread(self._reload_and_trim)
            except BaseException:
                self.metrics.reloads.labels("failed").inc()
                raise
            self.metrics.reloads.labels("ok").inc()
            ms = round((time.perf_counter() - t0) * 1000, 1)
        answer: dict[str, object] = {"status": "reloaded", "changed": changed, "ms": ms}
        log.info(json.dumps({"event": "reload", **answer}))
        return answer

    async def metrics_response(self) -> Response:
        """This server's metrics; a replica's are those of every replica, each sample labelled with its own."""
        if self.cluster is not None:
            return Response(await self.cluster.metrics(), media_type=CONTENT_TYPE_LATEST)
        return self.metrics.response()

    def _reload_and_trim(self) -> bool:
        """Whether anything was swapped in; an unchanged reload swaps nothing, so there is nothing to trim."""
        changed = self.pipe.reload_lexicons()
        if self._trim is not None and changed:  # the old gazetteer's memory back to the OS (see heap_trimmer)
            self._trim()
        return changed


def log_request(rid: int, what: str, queries: list[Query], job: Job | None, status: int, t0: float) -> None:
    """One JSON line per request: size, status, time, and (once it ran) queue wait, batch and stage timings."""
    record: dict[str, object] = {"event": what, "id": rid, "status": status, "queries": len(queries),
                                 "chars": sum(len(q.text) for q in queries),
                                 "ms": round((time.perf_counter() - t0) * 1000, 2)}
    if job is not None and job.started:
        record["queue_ms"] = round((job.started - job.enqueued) * 1000, 2)
        record["batch"] = job.batch_size
        if job.chunks > 1:
            record["chunks"] = job.chunks
    if job is not None and job.future.done() and not job.future.cancelled() and not job.future.exception():
        record["stages_ms"] = job.future.result()[0].timings_ms
    log.info(json.dumps(record, ensure_ascii=False))


def service_of(request: Request) -> Service:
    return request.app.state.service


router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    service = service_of(request)
    batcher = service.batcher
    body = {"status": "ready" if batcher.ready else "starting", "stages": service.pipe.stage_names,
            "queued": batcher.queued, "batches": batcher.stats.batches, "queries": batcher.stats.queries,
            "largest_batch": batcher.stats.largest_batch}
    if batcher.warm_up_error:
        body.update(status="failed", error=batcher.warm_up_error)
    return JSONResponse(body, status_code=200 if batcher.ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return await service_of(request).metrics_response()


@router.post("/v1/parse", response_model=PipelineResult)
async def parse(query: Query, request: Request) -> Response:
    return model_response((await service_of(request).run([query], "parse"))[0])


@router.post("/v1/parse/batch", response_model=BatchResponse)
async def parse_batch(req: BatchRequest, request: Request) -> Response:
    service = service_of(request)
    limit = service.server.max_batch_queries
    if len(req.queries) > limit:
        raise ApiError(413, f"{len(req.queries)} queries is over the limit server.max_batch_queries={limit}; "
                            "send several requests")
    return model_response(BatchResponse(results=await service.run(req.queries, "parse_batch")))


@router.post("/v1/lexicons/reload")
async def reload(request: Request) -> dict[str, object]:
    service = service_of(request)
    check_reload_allowed(request, service.server.reload_token)
    return await service.reload()


class Cluster(Protocol):
    """What a replica of a replicated server (``pipeline/serve_ray.py``) does with its peers: it joins them when
    it starts, reloads the lexicons of all of them, and gathers the metrics of all of them."""

    async def start(self, service: Service) -> None: ...
    async def stop(self) -> None: ...
    async def reload(self) -> bool: ...
    async def metrics(self) -> bytes: ...


def create_app(pipe: Pipeline, server: ServerConfig | None = None, cluster: Cluster | None = None) -> FastAPI:
    """The app; the micro-batcher starts and stops with it (use ``with TestClient(app)`` in tests). ``cluster``:
    the app is one replica of several, whose reloads and metrics are those of all."""
    server = server or ServerConfig()
    service = Service(pipe, server, cluster)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.batcher.start()
        if cluster is not None:
            await cluster.start(service)
        try:
            yield
        finally:
            if cluster is not None:
                await cluster.stop()
            await service.batcher.stop()

    app = FastAPI(title="duihua", version="0.1.0", lifespan=lifespan,
                  description="Chinese dialogue NLU: split, segment, tag slots, classify intent, reply.")
    app.state.service, app.state.batcher = service, service.batcher
    app.add_middleware(BodyLimit, max_bytes=server.max_body_bytes)
    app.add_middleware(CountRequests, metrics=service.metrics)   # added last: outermost, so it counts refusals
    add_error_handlers(app)
    app.include_router(router)
    if server.demo is not None:
        demo = Path(server.demo).expanduser()
        app.add_api_route("/", lambda: FileResponse(demo / "index.html"), methods=["GET"], include_in_schema=False)
        app.mount("/demo", StaticFiles(directory=demo), name="demo")
    return app
