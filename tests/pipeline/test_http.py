"""The HTTP server: endpoints, JSON errors, limits, the bounded queue, micro-batching and reload under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from fastapi.testclient import TestClient

from pipeline import Pipeline
from pipeline.http import ServerConfig, create_app
from pipeline.schema import PipelineResult
from tests.conftest import mini_overrides


@contextmanager
def serving(mini_lexicons, *extra: str, **server: object) -> Iterator[tuple[TestClient, Pipeline]]:
    """A started app (lifespan run, models warmed up) on the mini lexicons."""
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none", *extra))
    with TestClient(create_app(pipe, ServerConfig(**server))) as http:
        deadline = time.monotonic() + 30
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready within 30 s"
            time.sleep(0.02)
        yield http, pipe


@contextmanager
def blocked_models(pipe: Pipeline) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Hold the model thread inside ``Pipeline.batch``: yields (entered, release) events."""
    entered, release, real = threading.Event(), threading.Event(), pipe.batch

    def slow_batch(items):  # noqa: ANN001, ANN202
        entered.set()
        release.wait(30)
        return real(items)

    pipe.batch = slow_batch
    try:
        yield entered, release
    finally:
        release.set()
        pipe.batch = real


def wait_until(predicate, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_parse_batch_health_ready_and_demo(mini_lexicons):
    with serving(mini_lexicons) as (http, pipe):
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz").json()
        assert ready["status"] == "ready" and ready["stages"] == pipe.stage_names
        res = http.post("/v1/parse", json={"text": "我想听周董的稻香", "granularities": ["fine"]})
        assert res.status_code == 200
        result = PipelineResult.model_validate(res.json())
        assert [m.value for m in result.sentences[0].slots] == ["周杰伦", "稻香"]
        assert list(result.sentences[0].tokens) == ["fine"]
        assert set(result.timings_ms) == set(pipe.stage_names)
        batch = http.post("/v1/parse/batch", json={"queries": [{"text": "北京"}, {"text": ""}]}).json()
        assert [len(r["sentences"]) for r in batch["results"]] == [1, 0]
        page = http.get("/")
        assert page.status_code == 200 and 'id="query"' in page.text
        assert "function render" in http.get("/demo/demo.js").text
        assert http.get("/openapi.json").json()["paths"]["/v1/parse"]


def test_not_started_server_answers_503_not_a_hang(mini_lexicons):
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none"))
    http = TestClient(create_app(pipe))  # no `with`: lifespan (the batcher) never started
    res = http.post("/v1/parse", json={"text": "北京"})
    assert res.status_code == 503 and "not running" in res.json()["error"]
    assert http.get("/readyz").status_code == 503


def test_user_errors_are_json_with_status_codes(mini_lexicons):
    with serving(mini_lexicons, "runtime.max_chars=5", max_body_bytes=300, max_batch_queries=2) as (http, _):
        res = http.post("/v1/parse", json={"text": "一二三四五六"})
        assert res.status_code == 413 and "runtime.max_chars=5" in res.json()["error"]
        res = http.post("/v1/parse", json={"text": "北京", "lexicons": ["nope"]})
        assert res.status_code == 400 and "unknown lexicon domain" in res.json()["error"]
        res = http.post("/v1/parse", json={"txt": "x"})
        assert res.status_code == 422 and res.json()["error"].startswith("body.text: Field required")
        res = http.post("/v1/parse", content=b'{"text": "' + b"a" * 400 + b'"}',
                        headers={"Content-Type": "application/json"})
        assert res.status_code == 413 and "server.max_body_bytes=300" in res.json()["error"]
        chunked = http.post("/v1/parse", content=iter([b'{"text": "', b"a" * 400, b'"}']),
                            headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413 and "server.max_body_bytes=300" in chunked.json()["error"]
        res = http.post("/v1/parse/batch", json={"queries": [{"text": "北京"}] * 3})
        assert res.status_code == 413 and "server.max_batch_queries=2" in res.json()["error"]
        assert http.get("/nope").json() == {"error": "Not Found"}


def test_concurrent_requests_are_batched_and_each_gets_its_own_result(mini_lexicons):
    texts = ["我想听周杰伦的稻香", "北京", "我想听夜曲", "", "播放稻香", "去上海", "周董", "你好"] * 3
    with serving(mini_lexicons, max_batch=64, max_wait_ms=300) as (http, pipe):
        expected = [[(m.slot, m.surface) for s in r.sentences for m in s.slots] for r in pipe.batch(texts)]
        start = threading.Barrier(len(texts))

        def ask(text: str) -> dict:
            start.wait()
            return http.post("/v1/parse", json={"text": text}).json()

        with ThreadPoolExecutor(len(texts)) as pool:
            answers = list(pool.map(ask, texts))
        assert [a["query"]["text"] for a in answers] == texts
        assert [[(m["slot"], m["surface"]) for s in a["sentences"] for m in s["slots"]] for a in answers] == expected
        stats = http.get("/readyz").json()
        assert stats["largest_batch"] > 1 and stats["batches"] < len(texts)


def test_full_queue_answers_503_with_retry_after_and_queued_requests_still_succeed(mini_lexicons):
    with serving(mini_lexicons, max_batch=1, max_wait_ms=0, queue_size=2) as (http, pipe):
        batcher = http.app.state.batcher
        with blocked_models(pipe) as (entered, release), ThreadPoolExecutor(3) as pool:
            running = pool.submit(http.post, "/v1/parse", json={"text": "北京"})
            assert entered.wait(10)  # the first request is in the model thread, the queue is empty
            queued = [pool.submit(http.post, "/v1/parse", json={"text": t}) for t in ("稻香", "周董")]
            wait_until(lambda: batcher.queued == 2)
            refused = http.post("/v1/parse", json={"text": "夜曲"})
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert "server.queue_size=2" in refused.json()["error"]
            release.set()
            answers = [f.result() for f in (running, *queued)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.json()["query"]["text"] for a in answers] == ["北京", "稻香", "周董"]


def test_request_over_the_time_limit_answers_504(mini_lexicons):
    with serving(mini_lexicons, timeout_s=0.2) as (http, pipe), blocked_models(pipe):
        res = http.post("/v1/parse", json={"text": "北京"})
        assert res.status_code == 504 and "server.timeout_s=0.2" in res.json()["error"]


def test_reload_during_requests_drops_none(mini_lexicons):
    text = "我想听夜曲和稻香"
    with serving(mini_lexicons, max_batch=8, max_wait_ms=2) as (http, _):
        before = [m["surface"] for m in http.post("/v1/parse", json={"text": text}).json()["sentences"][0]["slots"]]
        stop = threading.Event()

        def hammer() -> list[tuple[int, tuple[str, ...]]]:
            seen = []
            while not stop.is_set():
                res = http.post("/v1/parse", json={"text": text})
                slots = res.json()["sentences"][0]["slots"] if res.status_code == 200 else []
                seen.append((res.status_code, tuple(m["surface"] for m in slots)))
            return seen

        with ThreadPoolExecutor(4) as pool:
            workers = [pool.submit(hammer) for _ in range(4)]
            time.sleep(0.2)
            with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
                fh.write("夜曲\n")
            for _ in range(3):
                assert http.post("/v1/lexicons/reload").json()["status"] == "reloaded"
            time.sleep(0.2)
            stop.set()
            seen = [s for w in workers for s in w.result()]
        after = [m["surface"] for m in http.post("/v1/parse", json={"text": text}).json()["sentences"][0]["slots"]]
    assert before == ["稻香"] and after == ["夜曲", "稻香"]
    assert {status for status, _ in seen} == {200}
    assert {slots for _, slots in seen} <= {("稻香",), ("夜曲", "稻香")}  # old or new lexicons, never a mix


def test_reload_says_whether_anything_changed(mini_lexicons):
    with serving(mini_lexicons) as (http, _):
        assert http.post("/v1/lexicons/reload").json()["changed"] is False
        with (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
            fh.write("夜曲\n")
        assert http.post("/v1/lexicons/reload").json()["changed"] is True


def test_broken_lexicon_reload_keeps_serving_the_old_one(mini_lexicons):
    with serving(mini_lexicons) as (http, _):
        (mini_lexicons["minimusic"] / "lexicon.yaml").write_text("domain: [unclosed\n", encoding="utf-8")
        res = http.post("/v1/lexicons/reload")
        assert res.status_code == 400 and res.json()["error"]
        slots = http.post("/v1/parse", json={"text": "我想听稻香"}).json()["sentences"][0]["slots"]
        assert [m["surface"] for m in slots] == ["稻香"]


def test_learned_slots_come_back_over_http_with_source_and_normalized_value(mini_lexicons):
    """``slots=fused`` (the shipped tagger over the mini lexicons): the lexicon's value for a learned span, a
    date resolved against the request's reference time, and the per-request lexicon choice honoured."""
    with serving(mini_lexicons, "slots=fused", "runtime=torch") as (http, _):
        res = http.post("/v1/parse", json={"text": "我想听周董的稻香", "reference_time": "2026-12-01T10:00:00"})
        found = {m["surface"]: m for s in res.json()["sentences"] for m in s["slots"]}
        assert found["周董"]["value"] == "周杰伦" and found["周董"]["source"].startswith("tagger")
        res = http.post("/v1/parse", json={"text": "明天早上八点的闹钟", "reference_time": "2026-12-01T10:00:00"})
        values = [m["value"] for s in res.json()["sentences"] for m in s["slots"]]
        assert "2026-12-02T08:00:00" in values
        res = http.post("/v1/parse", json={"text": "我想听周董的稻香", "lexicons": ["miniloc"]})
        sources = {m["source"] for s in res.json()["sentences"] for m in s["slot_candidates"]}
        assert not any("minimusic" in src for src in sources)
        assert http.post("/v1/parse", json={"text": "明天", "reference_time": "not a time"}).status_code == 422
