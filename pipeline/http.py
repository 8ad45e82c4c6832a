"""The HTTP server behind ``duihua serve``: FastAPI over a micro-batching ``Pipeline``, plus the web demo.

Endpoints: ``POST /v1/parse`` {text, session_id?, lexicons?, granularities?} -> PipelineResult;
``POST /v1/parse/batch`` {queries: [...]} -> {results: [...]}; ``GET /healthz`` (the process is alive);
``GET /readyz`` (models loaded and warmed up: 200, else 503); ``POST /v1/lexicons/reload`` (atomic hot reload);
the demo page at ``/``; OpenAPI docs at ``/docs``.

Every error is JSON ``{"error": message}``: 400 bad request (unknown lexicon), 404, 413 (body over
``server.max_body_bytes``, text over ``runtime.max_chars``, too many queries), 422 (malformed body), 503 with
Retry-After (queue full, shutting down), 504 (not answered within ``server.timeout_s``), 500 (a bug).

Models run on one worker thread (``pipeline/batching.py``); a lexicon reload runs on another and swaps the
gazetteer in one reference store, so batches in flight finish on the old lexicons and none is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.batching import Job, MicroBatcher, QueueFull, ShuttingDown, heap_trimmer
from pipeline.errors import DuihuaError, InputTooLongError
from pipeline.runtime import Pipeline, check_length
from pipeline.schema import PipelineResult, Query

log = logging.getLogger("duihua.http")
DEFAULT_DEMO = Path(__file__).resolve().parents[1] / "demo"


class ServerConfig(BaseModel):
    """Typed view of ``cfg.server`` (conf/pipeline.yaml documents each key)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    threads: int | None = Field(1, ge=1)        # torch/ONNX intra-op threads; null: the library default
    max_batch: int = Field(32, ge=1)            # queries per pipeline call; 1 switches micro-batching off
    max_wait_ms: float = Field(5.0, ge=0)       # how long the first request of a batch waits for company
    queue_size: int = Field(512, ge=1)          # requests waiting for the models; beyond: 503 + Retry-After
    timeout_s: float = Field(10.0, gt=0)        # per request, queue wait included; beyond: 504
    max_body_bytes: int = Field(1_048_576, gt=0)
    max_batch_queries: int = Field(256, ge=1)   # queries in one /v1/parse/batch request
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


class ApiError(Exception):
    """An HTTP error with a status code and, for 503, a Retry-After hint."""

    def __init__(self, status: int, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status, self.retry_after_s = status, retry_after_s


def error_response(status: int, message: str, retry_after_s: float | None = None) -> JSONResponse:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))} if retry_after_s is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def model_response(model: BaseModel) -> Response:
    """Serialise once with pydantic's JSON encoder. The results were built by the pipeline from validated
    models, so FastAPI's re-validation through ``response_model`` (kept for the docs) would only cost time."""
    return Response(model.model_dump_json(), media_type="application/json")


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` with a JSON 413 before anything parses them.

    A declared Content-Length is checked up front; a chunked body is read up to the limit, then replayed.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await error_response(400, f"bad Content-Length {declared.decode(errors='replace')!r}")(
                    scope, receive, send)
            elif int(declared) > self.max_bytes:
                await self._too_large(int(declared), scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._too_large(len(body), scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, size: int, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body of {size} bytes is over the limit server.max_body_bytes={self.max_bytes}"
        await error_response(413, message)(scope, receive, send)


def create_app(pipe: Pipeline, server: ServerConfig | None = None) -> FastAPI:
    """The app; the micro-batcher starts and stops with it (use ``with TestClient(app)`` in tests)."""
    server = server or ServerConfig()
    batcher = MicroBatcher(pipe, server.max_batch, server.max_wait_ms, server.queue_size, server.trim_memory_s)
    reload_lock = asyncio.Lock()
    counter = iter(range(1, 1 << 62))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="duihua", version="0.1.0", lifespan=lifespan,
                  description="Chinese dialogue NLU: split, segment, tag slots, classify intent, reply.")
    app.state.pipeline, app.state.batcher, app.state.server = pipe, batcher, server
    app.add_middleware(BodyLimit, max_bytes=server.max_body_bytes)

    @app.exception_handler(DuihuaError)
    async def user_error(_: Request, exc: DuihuaError) -> JSONResponse:
        return error_response(413 if isinstance(exc, InputTooLongError) else 400, str(exc))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, str(exc), exc.retry_after_s)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return JSONResponse({"error": f"{where}: {first['msg']}", "detail": json.loads(json.dumps(
            exc.errors(), default=str))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %r", exc)
        return error_response(500, f"internal error: {exc.__class__.__name__}: {exc}")

    async def run(queries: list[Query], what: str) -> list[PipelineResult]:
        """Queue, wait (bounded by ``server.timeout_s``), log one JSON line; map failures to HTTP errors."""
        t0 = time.perf_counter()
        status, job = 200, None
        try:
            for i, q in enumerate(queries):  # cheap checks before queueing: a refused text never costs a batch
                check_length(q.text, pipe.runtime.max_chars, f"query {i}" if len(queries) > 1 else "text")
            job = batcher.submit(queries)
            return await asyncio.wait_for(job.future, server.timeout_s)
        except QueueFull as exc:
            status = 503
            raise ApiError(503, f"server busy: {exc}; retry later", retry_after_s=1) from exc
        except ShuttingDown as exc:
            status = 503
            raise ApiError(503, str(exc), retry_after_s=1) from exc
        except TimeoutError as exc:
            status = 504
            raise ApiError(504, f"not answered within server.timeout_s={server.timeout_s:g} s "
                                f"({batcher.queued} requests queued)") from exc
        except DuihuaError as exc:
            status = 413 if isinstance(exc, InputTooLongError) else 400
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (nginx's code); its job is skipped if still queued
            raise
        except BaseException:
            status = 500
            raise
        finally:
            if server.log_requests:
                log_request(next(counter), what, queries, job, status, t0)

    def log_request(rid: int, what: str, queries: list[Query], job: Job | None, status: int, t0: float) -> None:
        record: dict[str, object] = {"event": what, "id": rid, "status": status, "queries": len(queries),
                                     "chars": sum(len(q.text) for q in queries),
                                     "ms": round((time.perf_counter() - t0) * 1000, 2)}
        if job is not None and job.started:
            record["queue_ms"] = round((job.started - job.enqueued) * 1000, 2)
            record["batch"] = job.batch_size
        if job is not None and job.future.done() and not job.future.cancelled() and not job.future.exception():
            record["stages_ms"] = job.future.result()[0].timings_ms
        log.info(json.dumps(record, ensure_ascii=False))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        body = {"status": "ready" if batcher.ready else "starting", "stages": pipe.stage_names,
                "queued": batcher.queued, "batches": batcher.stats.batches, "queries": batcher.stats.queries,
                "largest_batch": batcher.stats.largest_batch}
        if batcher.warm_up_error:
            body.update(status="failed", error=batcher.warm_up_error)
        return JSONResponse(body, status_code=200 if batcher.ready else 503)

    @app.post("/v1/parse", response_model=PipelineResult)
    async def parse(query: Query) -> Response:
        return model_response((await run([query], "parse"))[0])

    @app.post("/v1/parse/batch", response_model=BatchResponse)
    async def parse_batch(req: BatchRequest) -> Response:
        if len(req.queries) > server.max_batch_queries:
            raise ApiError(413, f"{len(req.queries)} queries is over the limit server.max_batch_queries="
                                f"{server.max_batch_queries}; send several requests")
        return model_response(BatchResponse(results=await run(req.queries, "parse_batch")))

    trim = heap_trimmer() if server.trim_memory_s > 0 else None

    def reload_and_trim() -> None:
        pipe.reload_lexicons()
        if trim is not None:  # the old gazetteer's memory back to the OS (see heap_trimmer)
            trim()

    @app.post("/v1/lexicons/reload")
    async def reload() -> dict[str, object]:
        """Rebuild on a helper thread while the model thread keeps serving; one reload at a time."""
        async with reload_lock:
            t0 = time.perf_counter()
            await asyncio.to_thread(reload_and_trim)
            ms = round((time.perf_counter() - t0) * 1000, 1)
        log.info(json.dumps({"event": "reload", "ms": ms}))
        return {"status": "reloaded", "ms": ms}

    if server.demo is not None:
        demo = Path(server.demo).expanduser()

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(demo / "index.html")

        app.mount("/demo", StaticFiles(directory=demo), name="demo")
    return app
