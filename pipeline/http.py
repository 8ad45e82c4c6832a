"""The HTTP server behind ``duihua serve``: FastAPI over a micro-batching ``Pipeline``, plus the web demo.

Endpoints: ``POST /v1/parse`` {text, session_id?, lexicons?, granularities?} -> PipelineResult;
``POST /v1/parse/batch`` {queries: [...]} -> {results: [...]}; ``GET /healthz`` (the process is alive);
``GET /readyz`` (models loaded and warmed up: 200, else 503); ``POST /v1/lexicons/reload`` (atomic hot reload;
``Authorization: Bearer <server.reload_token>`` when one is set, never from another web origin);
the demo page at ``/``; OpenAPI docs at ``/docs``.

Every error is JSON ``{"error": one line}``: 400 bad request (unknown lexicon), 401/403 (reload without the
token or with a wrong one, cross-origin reload), 404, 408 (headers not read within ``server.read_timeout_s``),
413 (body over ``server.max_body_bytes``, text over ``runtime.max_chars``, request over
``server.max_request_chars``, too many queries), 422 (malformed body), 503 with Retry-After (queue full,
shutting down), 504 (not answered within ``server.timeout_s``), 500 (a bug; only that request gets it).

One hostile request cannot hurt the others: what can be refused is refused before it is queued (size, lexicon
names, malformed text); a request that trips a bug in a stage fails alone (``pipeline/batching.py`` reruns its
batch request by request); a large request runs in chunks of ``server.max_batch`` queries and
``server.max_batch_chars`` characters that take turns with other requests, and stops when it times out; a
client that trickles a request is cut off after ``server.read_timeout_s`` (``DeadlineH11Protocol``).

Models run on one worker thread (``pipeline/batching.py``); a lexicon reload runs on another and swaps the
gazetteer in one reference store, so batches in flight finish on the old lexicons and none is dropped.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import logging
import math
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import h11
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from pipeline.batching import Job, MicroBatcher, QueueFull, ShuttingDown, heap_trimmer
from pipeline.errors import ConfigError, DuihuaError, InputTooLongError
from pipeline.pipeline import Pipeline, check_length
from pipeline.protocol import ChecksLexicons
from pipeline.resources import data_path
from pipeline.schema import PipelineResult, Query

log = logging.getLogger("duihua.http")
DEFAULT_DEMO = data_path("demo")  # the checkout's demo/, or the wheel's copy (pipeline.resources)


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


class ApiError(Exception):
    """An HTTP error with a status code, and optional headers (Retry-After for 503, WWW-Authenticate for 401)."""

    def __init__(self, status: int, message: str, retry_after_s: float | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.retry_after_s, self.headers = status, retry_after_s, headers


def one_line(message: str) -> str:
    """``message`` as one line that can be written as UTF-8.

    Why: messages quote what the client sent (a field name, a lexicon name); a lone surrogate in it would make
    the error response itself fail to encode (a 500 instead of the 4xx), and a newline would break log lines.
    """
    text = " ".join(message.split()) if ("\n" in message or "\r" in message) else message
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_response(status: int, message: str, retry_after_s: float | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if retry_after_s is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers or None)


def validation_detail(errors: Sequence[Any]) -> list[dict[str, object]]:
    """Pydantic's errors without ``input``/``ctx``/``url``: they echo what the client sent, which may be
    megabytes, or a float NaN that strict JSON cannot carry (``{"text": NaN}`` used to end in a 500)."""
    return [{"loc": [p if isinstance(p, int) else one_line(str(p)) for p in e["loc"]],
             "msg": one_line(str(e["msg"])), "type": str(e["type"])} for e in errors]


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


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for reading each request, headers and body together.

    Why: uvicorn bounds only the idle time between requests (``timeout_keep_alive``). A client that connects
    and says nothing, or trickles a header or a body a byte at a time (slowloris), held its connection and
    buffers forever. The clock starts when a connection opens or a request's first bytes arrive; a request
    still incomplete after ``read_timeout_s`` is cut off: the connection is closed, after a 408 if the headers
    were not complete (once they are, the app owns the answer; a body cut off mid-way reads as a client
    disconnect, and its work is never queued).
    ``read_timeout`` builds the subclass that carries the configured value.
    """

    read_timeout_s: ClassVar[float] = 10.0
    _read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track_request()  # a pipelined request may be waiting half-read in the buffer

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_timer()
        super().connection_lost(exc)

    def _reading_a_request(self) -> bool:
        """Part of a request has arrived and the rest has not (headers incomplete, or the body)."""
        their = self.conn.their_state
        return their is h11.SEND_BODY or (their is h11.IDLE and bool(self.conn.trailing_data[0]))

    def _track_request(self) -> None:
        if self._reading_a_request():
            self._arm_read_timer()  # keeps a running clock: the deadline counts from the first byte
        elif self.conn.their_state is not h11.IDLE:
            self._disarm_read_timer()  # the request is in; the idle wait after it is uvicorn's keep-alive

    def _arm_read_timer(self) -> None:
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(self.read_timeout_s, self._read_timed_out)

    def _disarm_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.conn.our_state is h11.IDLE:  # headers incomplete, no app owns this request: say why it is closed
            body = json.dumps({"error": f"request not received within server.read_timeout_s="
                                        f"{self.read_timeout_s:g} s"}).encode()
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                                 b"connection: close\r\ncontent-length: " + str(len(body)).encode() +
                                 b"\r\n\r\n" + body)
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.info(json.dumps({"event": "read_timeout", "client": client, "s": self.read_timeout_s}))
        self.transport.close()


def read_timeout(seconds: float) -> type[DeadlineH11Protocol]:
    """The protocol class uvicorn instantiates per connection, with ``server.read_timeout_s`` built in."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"read_timeout_s": seconds})


def check_port_free(host: str, port: int) -> None:
    """Refuse a port that cannot be bound, before the models load and before "serving on" is printed.

    Binds and closes a socket with ``SO_REUSEADDR`` as uvicorn's listener does, so a port in TIME_WAIT passes
    and one another process listens on does not. (Another process may still take it during the model load;
    uvicorn then exits with its own message.)
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is in use (server.port=N picks another)") from exc
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                              "(server.host, server.port)") from exc


def serve(app: FastAPI, server: ServerConfig) -> None:
    """Run ``app`` under uvicorn with the request read deadline (``DeadlineH11Protocol``)."""
    import uvicorn

    uvicorn.run(app, host=server.host, port=server.port, log_level="warning", access_log=False,
                http=read_timeout(server.read_timeout_s))


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


def create_app(pipe: Pipeline, server: ServerConfig | None = None) -> FastAPI:
    """The app; the micro-batcher starts and stops with it (use ``with TestClient(app)`` in tests)."""
    server = server or ServerConfig()
    batcher = MicroBatcher(pipe, server.max_batch, server.max_wait_ms, server.queue_size, server.trim_memory_s,
                           server.max_batch_chars)
    reload_lock = asyncio.Lock()
    counter = iter(range(1, 1 << 62))
    lexicon_checks = [stage for _, stage in pipe.stages if isinstance(stage, ChecksLexicons)]

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
        return error_response(exc.status, str(exc), exc.retry_after_s, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"])
        return JSONResponse({"error": one_line(f"{where}: {errors[0]['msg']}"),
                             "detail": validation_detail(errors)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %r", exc)
        return error_response(500, f"internal error: {exc.__class__.__name__}: {exc}")

    async def run(queries: list[Query], what: str) -> list[PipelineResult]:
        """Queue, wait (bounded by ``server.timeout_s``), log one JSON line; map failures to HTTP errors.

        On timeout ``wait_for`` cancels the job's future, which is what tells the batcher to skip the rest of it.
        """
        t0 = time.perf_counter()
        status, job = 200, None
        try:
            check_request(queries, pipe, server, lexicon_checks)
            job = batcher.submit(queries)
            return await asyncio.wait_for(job.future, server.timeout_s)
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
            if job.chunks > 1:
                record["chunks"] = job.chunks
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

    def reload_and_trim() -> bool:
        """Whether anything was swapped in; an unchanged reload swaps nothing, so there is nothing to trim."""
        changed = pipe.reload_lexicons()
        if trim is not None and changed:  # the old gazetteer's memory back to the OS (see heap_trimmer)
            trim()
        return changed

    @app.post("/v1/lexicons/reload")
    async def reload(request: Request) -> dict[str, object]:
        """Rebuild on a helper thread while the model thread keeps serving; one reload at a time."""
        check_reload_allowed(request, server.reload_token)
        async with reload_lock:
            t0 = time.perf_counter()
            changed = await asyncio.to_thread(reload_and_trim)
            ms = round((time.perf_counter() - t0) * 1000, 1)
        answer: dict[str, object] = {"status": "reloaded", "changed": changed, "ms": ms}
        log.info(json.dumps({"event": "reload", **answer}))
        return answer

    if server.demo is not None:
        demo = Path(server.demo).expanduser()

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(demo / "index.html")

        app.mount("/demo", StaticFiles(directory=demo), name="demo")
    return app
