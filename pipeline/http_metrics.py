"""``GET /metrics``: what an operator scrapes from ``duihua serve``, in the Prometheus text format.

Why a registry per app rather than prometheus-client's global one: two apps in one process (tests, a
caller embedding the server) would otherwise add into each other's counts. Requests are counted by an ASGI
middleware outside everything else, so refusals that never reach a route (413 from the body limit, 422, 404)
are counted too; the path label is one of the server's own routes or ``other``, so a scan of random URLs
cannot grow the label set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROUTES = ("/v1/parse", "/v1/parse/batch", "/v1/lexicons/reload", "/healthz", "/readyz", "/metrics", "/")
SECONDS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    """The server's counters, histograms and gauges in a registry of its own (RSS and CPU from
    ``ProcessCollector``); ``queued`` is read at scrape time."""

    def __init__(self, queued: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("duihua_http_requests", "HTTP requests answered, by route and status code",
                                ["path", "status"], registry=r)
        self.latency = Histogram("duihua_http_request_seconds", "Time to answer an HTTP request, by route",
                                 ["path"], buckets=SECONDS, registry=r)
        self.stages = Histogram("duihua_stage_seconds", "Time each pipeline stage spent on one query",
                                ["stage"], buckets=SECONDS, registry=r)
        self.batch = Histogram("duihua_batch_queries", "Queries in the pipeline batch each parse request ran in",
                               buckets=BATCH_SIZES, registry=r)
        self.queue = Gauge("duihua_queue_depth", "Requests waiting for the model thread", registry=r)
        self.queue.set_function(queued)
        self.reloads = Counter("duihua_lexicon_reloads", "Lexicon reloads, by result (ok, failed)", ["result"],
                               registry=r)
        ProcessCollector(registry=r)

    def observe_run(self, batch_size: int | None, timings_ms: Sequence[Mapping[str, float]]) -> None:
        """One answered parse request: its batch size, and every query's per-stage times."""
        if batch_size:
            self.batch.observe(batch_size)
        for timings in timings_ms:
            for stage, ms in timings.items():
                self.stages.labels(stage).observe(ms / 1000)

    def response(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class CountRequests:
    """ASGI middleware: count and time every HTTP request by route and status (499: no answer was sent, the
    client went away or the request was cut off)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in ROUTES else "other"
        status = 499
        t0 = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except Exception:
            if status == 499:   # the outermost error handler answers a bug with a 500 after this returns
                status = 500
            raise
        finally:
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - t0)
