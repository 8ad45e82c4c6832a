from fastapi.testclient import TestClient

from pipeline import Pipeline
from pipeline.http import create_app
from pipeline.schema import PipelineResult
from tests.conftest import mini_overrides


def client(mini_lexicons, *extra: str) -> tuple[TestClient, Pipeline]:
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, *extra))
    return TestClient(create_app(pipe)), pipe


def test_parse_batch_health_and_ready(mini_lexicons):
    http, pipe = client(mini_lexicons)
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json()["stages"] == pipe.stage_names
    res = http.post("/v1/parse", json={"text": "我想听周董的稻香", "granularities": ["fine"]})
    assert res.status_code == 200
    result = PipelineResult.model_validate(res.json())
    assert [m.value for m in result.sentences[0].slots] == ["周杰伦", "稻香"]
    assert list(result.sentences[0].tokens) == ["fine"]
    batch = http.post("/v1/parse/batch", json={"queries": [{"text": "北京"}, {"text": ""}]}).json()
    assert [len(r["sentences"]) for r in batch["results"]] == [1, 0]


def test_user_errors_are_json_with_status_codes(mini_lexicons):
    http, _ = client(mini_lexicons, "runtime.max_chars=5")
    res = http.post("/v1/parse", json={"text": "一二三四五六"})
    assert res.status_code == 413 and "runtime.max_chars=5" in res.json()["error"]
    res = http.post("/v1/parse", json={"text": "北京", "lexicons": ["nope"]})
    assert res.status_code == 400 and "unknown lexicon domain" in res.json()["error"]
    assert http.post("/v1/parse", json={"txt": "x"}).status_code == 422


def test_reload_endpoint_picks_up_edited_lexicons(mini_lexicons):
    http, _ = client(mini_lexicons)
    before = http.post("/v1/parse", json={"text": "播放夜曲"}).json()["sentences"][0]["slots"]
    (mini_lexicons["minimusic"] / "song.txt").open("a", encoding="utf-8").write("夜曲\n")
    assert http.post("/v1/lexicons/reload").json() == {"status": "reloaded"}
    after = http.post("/v1/parse", json={"text": "播放夜曲"}).json()["sentences"][0]["slots"]
    assert before == [] and [m["surface"] for m in after] == ["夜曲"]
