"""The server's transport guards and its uvicorn run: a body-size limit before anything parses a body, a
deadline for reading each request (slowloris), and a port check before the models load."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
from typing import TYPE_CHECKING, ClassVar

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from pipeline.errors import ConfigError
from pipeline.http_errors import error_response

if TYPE_CHECKING:
    from fastapi import FastAPI

    from pipeline.http import ServerConfig

log = logging.getLogger("duihua.http")


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
