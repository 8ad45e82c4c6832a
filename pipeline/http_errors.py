"""How the server answers what goes wrong: every error is JSON ``{"error": one line}`` with its status code
(the table is in ``pipeline/http.py``'s docstring), whatever raised it."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.errors import DuihuaError, InputTooLongError

log = logging.getLogger("duihua.http")


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


def status_of(exc: DuihuaError) -> int:
    """A user's mistake in a query: 413 when it is too long, else 400."""
    return 413 if isinstance(exc, InputTooLongError) else 400


async def user_error(_: Request, exc: DuihuaError) -> JSONResponse:
    return error_response(status_of(exc), str(exc))


async def api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, str(exc), exc.retry_after_s, exc.headers)


async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    where = ".".join(str(p) for p in errors[0]["loc"])
    return JSONResponse({"error": one_line(f"{where}: {errors[0]['msg']}"), "detail": validation_detail(errors)},
                        status_code=422)


async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail))


async def bug(_: Request, exc: Exception) -> JSONResponse:
    log.error("internal error: %r", exc)
    return error_response(500, f"internal error: {exc.__class__.__name__}: {exc}")


def add_error_handlers(app: FastAPI) -> None:
    """Route every exception type to its JSON answer (``Exception`` last: a bug costs only its request)."""
    for kind, handler in ((DuihuaError, user_error), (ApiError, api_error), (RequestValidationError, malformed),
                          (StarletteHTTPException, http_error), (Exception, bug)):
        app.add_exception_handler(kind, handler)
