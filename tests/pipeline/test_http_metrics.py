"""``GET /metrics``: parsed with prometheus-client's own text parser, its counts match the requests made."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.pipeline.test_http import serving


def scrape(http) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # noqa: ANN001
    """Every sample of ``/metrics`` by (name, sorted labels)."""
    response = http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_metrics_count_answers_refusals_stages_and_reloads(mini_lexicons):
    with serving(mini_lexicons) as (http, pipe):
        before = scrape(http)
        for text in ("播放稻香", "北京明天天气", "打开qq"):
            assert http.post("/v1/parse", json={"text": text}).status_code == 200
        batch = {"queries": [{"text": "你好"}, {"text": "播放晴天"}]}
        assert http.post("/v1/parse/batch", json=batch).status_code == 200
        assert http.post("/v1/parse", json={"txet": "typo"}).status_code == 422
        assert http.get("/no/such/page").status_code == 404
        assert http.post("/v1/lexicons/reload").status_code == 200
        samples = scrape(http)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return samples.get(key, 0.0) - before.get(key, 0.0)

    assert grew("duihua_http_requests_total", path="/v1/parse", status="200") == 3
    assert grew("duihua_http_requests_total", path="/v1/parse", status="422") == 1
    assert grew("duihua_http_requests_total", path="/v1/parse/batch", status="200") == 1
    assert grew("duihua_http_requests_total", path="other", status="404") == 1   # no label per random URL
    assert grew("duihua_http_request_seconds_count", path="/v1/parse") == 4
    for stage in pipe.stage_names:   # every answered query, once per stage it ran
        assert grew("duihua_stage_seconds_count", stage=stage) == 5, stage
    assert grew("duihua_batch_queries_count") == 4   # one observation per answered parse request
    assert grew("duihua_lexicon_reloads_total", result="ok") == 1
    assert samples[("duihua_queue_depth", ())] == 0
    assert samples[("process_resident_memory_bytes", ())] > 10_000_000
