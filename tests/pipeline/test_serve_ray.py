"""``duihua serve --engine ray``: two Ray Serve replicas answer what the one-process server answers (paths,
bodies, status codes), a lexicon reload reaches both or neither, and ``/metrics`` counts every replica's
requests."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient

from pipeline.http import create_app
from pipeline.pipeline import Pipeline
from tests.conftest import mini_overrides

pytest.importorskip("ray.serve")
OVERRIDES = ("segmenter=none", "intent=none", "reply=none", "runtime.max_chars=30")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two replicas on a local Ray cluster, serving copies of the mini lexicons; yields (base URL, lexicons)."""
    import shutil

    from tests.conftest import DATA

    root = tmp_path_factory.mktemp("lexicons")
    lexicons = {name: shutil.copytree(DATA / "lexicons" / name, root / name) for name in ("minimusic", "miniloc")}
    from pipeline.serve_ray import serve_on_ray

    port, ready, stop = free_port(), threading.Event(), threading.Event()
    overrides = [*mini_overrides(lexicons, *OVERRIDES), "server.log_requests=false"]
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve_on_ray(overrides, "127.0.0.1", port, 2, 64, ready=ready, stop=stop)
        except BaseException as exc:  # reported by the fixture
            failure.append(exc)
            ready.set()

    server = threading.Thread(target=run, daemon=True)
    server.start()
    assert ready.wait(300) and not failure, failure
    yield f"http://127.0.0.1:{port}", lexicons, overrides
    stop.set()
    server.join(120)


def call(base: str, method: str, path: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as res:
            raw = res.read()
            status = res.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def untimed(body: object) -> object:
    if isinstance(body, dict):
        return {k: untimed(v) for k, v in body.items() if k not in ("timings_ms", "detail")}
    if isinstance(body, list):
        return [untimed(v) for v in body]
    return body


REQUESTS = [
    ("POST", "/v1/parse", {"text": "我想听周董的稻香"}),
    ("POST", "/v1/parse/batch", {"queries": [{"text": "北京南站"}, {"text": ""}]}),
    ("POST", "/v1/parse", {"txt": "no text field"}),                       # 422
    ("POST", "/v1/parse", {"text": "北京", "lexicons": ["nope"]}),          # 400 unknown lexicon
    ("POST", "/v1/parse", {"text": "很长" * 20}),                           # 413 over runtime.max_chars
    ("POST", "/v1/parse", b"{not json"),                                    # 422
    ("GET", "/nope", None),                                                 # 404
    ("GET", "/healthz", None),
]


def test_replicas_answer_what_one_process_answers(replicas):
    base, lexicons, overrides = replicas
    with TestClient(create_app(Pipeline.from_config(overrides))) as local:
        for method, path, body in REQUESTS:
            kwargs = {"content": body} if isinstance(body, bytes) else ({"json": body} if body is not None else {})
            expected = local.request(method, path, headers={"content-type": "application/json"}, **kwargs)
            status, got = call(base, method, path, body)
            assert status == expected.status_code, (path, body)
            assert untimed(got) == untimed(expected.json()), (path, body)


def test_a_reload_reaches_every_replica_or_none(replicas):
    base, lexicons, _ = replicas

    def songs() -> set[tuple[str, ...]]:  # many requests: both replicas answer some of them
        return {tuple(m["surface"] for m in call(base, "POST", "/v1/parse", {"text": "我想听夜曲"})[1]
                      ["sentences"][0]["slots"]) for _ in range(30)}

    assert songs() == {()}
    manifest = lexicons["minimusic"] / "lexicon.yaml"
    good = manifest.read_text(encoding="utf-8")
    with (lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8") as fh:
        fh.write("夜曲\n")
    manifest.write_text("domain: [unclosed\n", encoding="utf-8")
    status, body = call(base, "POST", "/v1/lexicons/reload")
    assert status == 400 and body["error"]
    assert songs() == {()}                                        # every replica kept the old lexicons
    manifest.write_text(good, encoding="utf-8")
    status, body = call(base, "POST", "/v1/lexicons/reload")
    assert status == 200 and body["changed"] is True
    assert songs() == {("夜曲",)}                                  # ... and now every replica has the new ones


def test_metrics_count_the_requests_of_every_replica(replicas):
    from prometheus_client.parser import text_string_to_metric_families

    base, _, _ = replicas

    def parsed_ok() -> tuple[float, set[str]]:
        status, page = call(base, "GET", "/metrics")
        assert status == 200
        samples = [s for f in text_string_to_metric_families(page) for s in f.samples
                   if s.name == "duihua_http_requests_total" and s.labels["path"] == "/v1/parse"
                   and s.labels["status"] == "200"]
        return sum(s.value for s in samples), {s.labels["replica"] for s in samples}

    before, _ = parsed_ok()
    for _ in range(40):
        assert call(base, "POST", "/v1/parse", {"text": "北京南站"})[0] == 200
    after, replica_names = parsed_ok()
    assert after - before == 40 and len(replica_names) == 2


class _Remote:
    """``handle.method.remote(...)`` over a plain object: what ``RayCluster`` calls ``Peers`` with, in-process."""

    def __init__(self, target: object) -> None:
        self.target = target

    def __getattr__(self, name: str) -> object:
        method = getattr(self.target, name)
        return type("Method", (), {"remote": staticmethod(lambda *args: method(*args))})


def test_one_replica_failing_to_prepare_leaves_every_replica_on_the_old_lexicons():
    """The two rounds, without Ray: replica b cannot rebuild, so replica a, which could, must not swap."""
    import asyncio
    from types import SimpleNamespace

    from models.common.errors import LexiconError
    from pipeline.http_errors import ApiError
    from pipeline.serve_ray import Peers, RayCluster

    swapped: list[str] = []
    broken = {"b"}

    def replica(name: str) -> SimpleNamespace:
        def prepare_reload():
            if name in broken:
                raise LexiconError(f"{name}: lexicon.yaml is not valid YAML")
            return lambda: swapped.append(name)
        return SimpleNamespace(pipe=SimpleNamespace(prepare_reload=prepare_reload))

    async def scenario() -> None:
        peers = _Remote(Peers())
        clusters = [RayCluster(peers) for _ in "ab"]
        for cluster, name in zip(clusters, "ab", strict=True):
            cluster.name = name
            await cluster.start(replica(name))
        with pytest.raises(ApiError, match="b: lexicon.yaml") as refused:
            await clusters[0].reload()
        assert refused.value.status == 400 and swapped == []
        broken.clear()
        assert await clusters[0].reload() is True
        assert sorted(swapped) == ["a", "b"]
        for cluster in clusters:
            await cluster.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(("argv", "message"), [
    (["--replicas", "2"], "--replicas applies to --engine ray"),
    (["--engine", "ray", "--replicas", "0"], "--replicas must be at least 1"),
    (["--engine", "ray", "segmenter=neural", "segmenter.checkpoint=/nope"], "segmenter.checkpoint: no segmenter"),
])
def test_serve_engine_mistakes_are_one_line_before_ray_starts(capsys, argv, message):
    from pipeline.cli import main

    code = main(["serve", f"server.port={free_port()}", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
