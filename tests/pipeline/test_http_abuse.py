"""One hostile request cannot hurt the others (issue #20): poison texts, NaN bodies, oversized work, slow
clients, cross-origin and unauthenticated reloads, a busy port; and arbitrary text never gets a 500."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import Pipeline
from pipeline.http import ServerConfig, create_app, read_timeout
from pipeline.schema import PipelineResult
from tests.conftest import mini_overrides

ROOT = Path(__file__).resolve().parents[2]
POISON: dict[str, Callable[[], Exception]] = {  # text -> the error a stage raises for it
    "毒药": lambda: UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    "炸弹": lambda: RuntimeError("a bug this text trips")}


@contextmanager
def serving(mini_lexicons, *extra: str, **server: object) -> Iterator[tuple[TestClient, Pipeline]]:  # noqa: ANN001
    """A started app on the mini lexicons that answers 500s as a server does, instead of raising in the test."""
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none", *extra))
    with TestClient(create_app(pipe, ServerConfig(**server)), raise_server_exceptions=False) as http:
        deadline = time.monotonic() + 30
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready within 30 s"
            time.sleep(0.02)
        yield http, pipe


def poison_stage(pipe: Pipeline, name: str = "slots") -> None:
    """Make stage ``name`` raise for the texts in ``POISON`` (what a lone surrogate did before the schema
    refused it, or any bug one input triggers), as a stage does: for the whole batch it is in."""
    stage = pipe.stage(name)
    real = stage.process

    def process(docs):  # noqa: ANN001, ANN202
        for doc in docs:
            if doc.query.text in POISON:
                raise POISON[doc.query.text]()
        return real(docs)

    stage.process = process


def counting(pipe: Pipeline, delay_s: float = 0.0) -> list[int]:
    """Record the size of every ``Pipeline.batch`` call (after the warm-up); optionally make each one slow."""
    sizes: list[int] = []
    real = pipe.batch

    def batch(items):  # noqa: ANN001, ANN202
        sizes.append(len(items))
        time.sleep(delay_s)
        return real(items)

    pipe.batch = batch
    return sizes


def assert_one_line_error(res, status: int | None = None) -> str:  # noqa: ANN001
    """A 4xx (or ``status``) with ``{"error": one line}``."""
    assert res.status_code == status if status else 400 <= res.status_code < 500, (res.status_code, res.text)
    message = res.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    return message


def test_poison_requests_in_shared_batches_fail_alone(mini_lexicons):
    legit = ["我想听周杰伦的稻香", "北京", "播放夜曲", "去上海", "周董", "你好", "播放稻香", ""] * 2
    texts = legit + list(POISON) * 2
    with serving(mini_lexicons, max_batch=64, max_wait_ms=300) as (http, pipe):
        poison_stage(pipe)
        start = threading.Barrier(len(texts))

        def ask(text: str):  # noqa: ANN202
            start.wait()
            return http.post("/v1/parse", json={"text": text})

        with ThreadPoolExecutor(len(texts)) as pool:
            answers = list(pool.map(ask, texts))
        stats = http.get("/readyz").json()
    assert stats["largest_batch"] > len(POISON)  # poison and legitimate requests did share batches
    for text, res in zip(texts, answers, strict=True):
        if text in POISON:
            assert type(POISON[text]()).__name__ in assert_one_line_error(res, 500)
        else:
            assert res.status_code == 200 and res.json()["query"]["text"] == text


def test_lone_surrogate_and_long_session_id_are_refused_at_the_edge(mini_lexicons):
    with serving(mini_lexicons) as (http, pipe):
        sizes = counting(pipe)
        res = http.post("/v1/parse", content=b'{"text": "\\ud800\xe5\x8c\x97\xe4\xba\xac"}',
                        headers={"Content-Type": "application/json"})
        assert "surrogate" in assert_one_line_error(res, 422)
        res = http.post("/v1/parse", json={"text": "北京", "session_id": "s" * 129})
        assert "session_id" in assert_one_line_error(res, 422)
        assert http.post("/v1/parse", json={"text": "北京", "session_id": "s" * 128}).status_code == 200
    assert sizes == [1]  # only the valid request reached the models


@pytest.mark.parametrize("body", [b'{"text": NaN}', b'{"text": "x", "session_id": Infinity}',
                                  b'{"text": "x", "extra": -Infinity}', b'{"queries": [{"text": NaN}]}',
                                  b'{"text": "x", "\\ud800": 1}', b'{"text": "x", "lexicons": [NaN]}'])
def test_nan_and_odd_keys_give_422_json_not_500(mini_lexicons, body):
    with serving(mini_lexicons) as (http, _):
        path = "/v1/parse/batch" if b"queries" in body else "/v1/parse"
        res = http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert_one_line_error(res, 422)
        assert all("input" not in e for e in res.json()["detail"])  # the body is not echoed back


def test_request_over_max_request_chars_is_413_before_queueing(mini_lexicons):
    with serving(mini_lexicons, max_request_chars=10) as (http, pipe):
        sizes = counting(pipe)
        res = http.post("/v1/parse/batch", json={"queries": [{"text": "一二三四五六"}, {"text": "七八九十一二"}]})
        assert "server.max_request_chars=10" in assert_one_line_error(res, 413)
        assert http.post("/v1/parse", json={"text": "一二三四五六七八九十"}).status_code == 200
    assert sizes == [1]


def test_a_big_batch_runs_in_chunks_and_stops_at_its_deadline(mini_lexicons):
    with serving(mini_lexicons, max_batch=2, max_wait_ms=0, timeout_s=0.5) as (http, pipe):
        sizes = counting(pipe, delay_s=0.2)
        res = http.post("/v1/parse/batch", json={"queries": [{"text": f"北京{i}"} for i in range(20)]})
        assert "server.timeout_s=0.5" in assert_one_line_error(res, 504)
        time.sleep(0.6)  # what would have run after the deadline
        assert max(sizes) <= 2 and len(sizes) <= 4  # 0.5 s of 0.2 s chunks, one finishing: not 10 chunks
        done = len(sizes)
        assert http.post("/v1/parse", json={"text": "北京"}).status_code == 200  # the model thread is free
        assert len(sizes) == done + 1


def test_unknown_lexicon_is_refused_before_queueing(mini_lexicons):
    with serving(mini_lexicons) as (http, pipe):
        sizes = counting(pipe)
        res = http.post("/v1/parse/batch", json={"queries": [{"text": "北京"}, {"text": "x", "lexicons": ["nope"]}]})
        assert "unknown lexicon domain" in assert_one_line_error(res, 400)
        assert http.post("/v1/parse", json={"text": "北京", "lexicons": ["miniloc"]}).status_code == 200
    assert sizes == [1]


def test_reload_needs_the_token_when_one_is_set(mini_lexicons):
    with serving(mini_lexicons, reload_token="s3cret") as (http, _):
        res = http.post("/v1/lexicons/reload")
        assert_one_line_error(res, 401)
        assert res.headers["WWW-Authenticate"] == "Bearer"
        assert_one_line_error(http.post("/v1/lexicons/reload", headers={"Authorization": "Bearer nope"}), 403)
        assert_one_line_error(http.post("/v1/lexicons/reload", headers={"Authorization": "Basic s3cret"}), 401)
        res = http.post("/v1/lexicons/reload", headers={"Authorization": "Bearer s3cret"})
        assert res.status_code == 200 and res.json()["status"] == "reloaded"


def test_cross_origin_reload_is_refused(mini_lexicons):
    with serving(mini_lexicons) as (http, _):
        message = assert_one_line_error(http.post("/v1/lexicons/reload", headers={"Origin": "http://evil.example"}),
                                        403)
        assert "evil.example" in message
        assert_one_line_error(http.post("/v1/lexicons/reload", headers={"Origin": "null"}), 403)
        assert_one_line_error(http.post("/v1/lexicons/reload", headers={"Sec-Fetch-Site": "cross-site"}), 403)
        same = http.post("/v1/lexicons/reload", headers={"Origin": "http://testserver",
                                                         "Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 200
        assert http.post("/v1/lexicons/reload").status_code == 200  # curl and scripts send no Origin


def test_busy_port_exits_2_with_one_line_before_loading_models():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "serve", f"server.port={port}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        took = time.monotonic() - t0
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert lines == [f"duihua: error: port {port} on 127.0.0.1 is in use (server.port=N picks another)"]
    assert took < 30  # a config load, no model load (that takes minutes on the shipped pipeline)


# -- slow clients, against a real uvicorn --------------------------------------------------------------------
@contextmanager
def real_server(mini_lexicons, read_timeout_s: float) -> Iterator[int]:  # noqa: ANN001
    """The app under uvicorn on a free loopback port, with ``DeadlineH11Protocol``; yields the port."""
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none", "segmenter=jieba",
                                                         "intent=none"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(pipe, ServerConfig(read_timeout_s=read_timeout_s)), host="127.0.0.1",
                            port=port, log_level="warning", http=read_timeout(read_timeout_s))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def closed_after(port: int, send: Callable[[socket.socket], None], limit_s: float) -> tuple[float, bytes]:
    """Seconds until the server closes a connection after ``send`` wrote to it, and what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as sock:
        t0 = time.monotonic()
        send(sock)
        answer = b""
        while chunk := sock.recv(4096):  # socket.timeout (a failure) if the server holds it past limit_s
            answer += chunk
        return time.monotonic() - t0, answer


def test_slow_clients_are_cut_off_after_read_timeout(mini_lexicons):
    read_s, slack = 0.5, 2.0
    body = json.dumps({"text": "北京"}).encode()
    head = b"POST /v1/parse HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    with real_server(mini_lexicons, read_s) as port:
        took, answer = closed_after(port, lambda s: s.sendall(head % len(body)), read_s + slack)  # half a header
        assert read_s * 0.8 <= took and answer.startswith(b"HTTP/1.1 408 ")
        assert b"server.read_timeout_s=0.5" in answer
        took, _ = closed_after(port, lambda s: s.sendall(head % len(body) + b"\r\n" + body[:3]), read_s + slack)
        assert read_s * 0.8 <= took  # headers in, body trickled
        took, _ = closed_after(port, lambda s: None, read_s + slack)  # connects, says nothing
        assert read_s * 0.8 <= took

        def trickle_within_the_deadline(sock: socket.socket) -> None:
            for part in (head % len(body), b"\r\n", body[:5], body[5:]):
                sock.sendall(part)
                time.sleep(0.05)

        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for _ in range(2):  # two requests on one keep-alive connection, each read slowly but in time
                trickle_within_the_deadline(sock)
                status, payload = read_response(sock)
                assert status == 200 and json.loads(payload)["query"]["text"] == "北京"


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length: (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


# -- arbitrary input -------------------------------------------------------------------------------------------
ODD_TEXT = st.text(alphabet=st.one_of(st.characters(codec=None),
                                      st.characters(categories=["Cs", "Cc", "Zl", "Zp", "Cf"]),
                                      st.sampled_from("我想听周杰伦的稻香北京。，！？ ")), max_size=40)


def check_answer(res, texts: list[str]) -> None:  # noqa: ANN001
    """200 with one valid result per text, echoing it, or a 4xx with a one-line JSON error; never a 500."""
    if res.status_code != 200:
        assert_one_line_error(res)
        return
    payload = res.json()
    results = payload.get("results", [payload])
    assert [PipelineResult.model_validate(r).query.text for r in results] == texts


def post_json(http, path: str, payload: object):  # noqa: ANN001, ANN201
    """Send ``payload`` as ASCII JSON, so lone surrogates travel as ``\\ud800`` escapes, as a client can."""
    return http.post(path, content=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})


def test_arbitrary_text_never_gives_a_500(mini_lexicons):
    with serving(mini_lexicons) as (http, _):

        @settings(max_examples=30, deadline=None)
        @given(text=ODD_TEXT, session=st.none() | st.text(max_size=8),
               lexicons=st.none() | st.lists(st.sampled_from(["minimusic", "miniloc", "nope", "\ud800"]), max_size=2))
        def one(text: str, session: str | None, lexicons: list[str] | None) -> None:
            payload: dict[str, object] = {"text": text, "session_id": session}
            if lexicons is not None:
                payload["lexicons"] = lexicons
            check_answer(post_json(http, "/v1/parse", payload), [text])

        @settings(max_examples=15, deadline=None)
        @given(texts=st.lists(ODD_TEXT, min_size=1, max_size=6))
        def batch(texts: list[str]) -> None:
            check_answer(post_json(http, "/v1/parse/batch", {"queries": [{"text": t} for t in texts]}), texts)

        one()
        batch()
