"""A thin FastAPI wrapper over ``Pipeline`` (``duihua serve``).

Endpoints: ``POST /v1/parse`` {text, session_id?, lexicons?, granularities?} -> PipelineResult;
``POST /v1/parse/batch`` {queries: [...]} -> {results: [...]}; ``GET /healthz`` (alive); ``GET /readyz``
(models loaded); ``POST /v1/lexicons/reload`` (atomic hot reload). User errors (over-long text, unknown lexicon
domain) answer 400/413/422 with ``{"error": message}``; OpenAPI docs at ``/docs``.

Pipeline calls run in FastAPI's thread pool, so slow requests do not block the event loop; the pipeline is
thread-safe (stages keep no per-call state, reload swaps one reference). Dynamic micro-batching, a bounded
queue and the web demo come with the serving issue.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pipeline.errors import DuihuaError, InputTooLongError
from pipeline.runtime import Pipeline
from pipeline.schema import PipelineResult, Query

log = logging.getLogger("duihua.http")


class BatchRequest(BaseModel):
    queries: list[Query] = Field(min_length=1, max_length=256)


class BatchResponse(BaseModel):
    results: list[PipelineResult]


def create_app(pipe: Pipeline) -> FastAPI:
    app = FastAPI(title="duihua", version="0.1.0",
                  description="Chinese dialogue NLU: split, segment, tag slots, classify intent, reply.")
    app.state.pipeline = pipe

    @app.exception_handler(DuihuaError)
    async def user_error(_: Request, exc: DuihuaError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=413 if isinstance(exc, InputTooLongError) else 400)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, object]:
        return {"status": "ready", "stages": pipe.stage_names}

    @app.post("/v1/parse", response_model=PipelineResult)
    def parse(query: Query) -> PipelineResult:
        t0 = time.perf_counter()
        result = pipe(query)
        log.info("parse chars=%d ms=%.1f stages=%s", len(query.text), (time.perf_counter() - t0) * 1000,
                 result.timings_ms)
        return result

    @app.post("/v1/parse/batch", response_model=BatchResponse)
    def parse_batch(req: BatchRequest) -> BatchResponse:
        return BatchResponse(results=pipe.batch(req.queries))

    @app.post("/v1/lexicons/reload")
    def reload() -> dict[str, str]:
        pipe.reload_lexicons()
        return {"status": "reloaded"}

    return app
