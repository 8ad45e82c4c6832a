"""The shipped splitter checkpoint: files and card, the demo query, real run-on requests, hard inputs."""

from __future__ import annotations

import json

import pytest

from models.splitter.inference import Splitter
from pipeline import Pipeline
from pipeline.config import ROOT

CHECKPOINT = ROOT / "checkpoints" / "splitter"


@pytest.fixture(scope="module")
def shipped() -> Splitter:
    """The shipped tagger as ``splitter=neural`` loads it: fp32, fed the default lexicons' tags."""
    pipe = Pipeline.from_config(overrides=["splitter=neural", "runtime=torch", "splitter.precision=fp32",
                                           "segmenter=none", "slots=none", "intent=none", "reply=none"])
    return pipe.stage("splitter").model


def test_checkpoint_has_every_artefact_and_a_model_card():
    names = {p.name for p in CHECKPOINT.iterdir()}
    assert {"splitter.json", "model.safetensors", "tokenizer.json", "README.md", "train_result.json"} <= names
    assert (CHECKPOINT / "model.safetensors").stat().st_size < 15e6  # fp16, a few MB
    card = (CHECKPOINT / "README.md").read_text(encoding="utf-8")
    for needle in ("duihua train splitter-distill", "| seed |", "wall time", "ensemble", "teacher t0", "student"):
        assert needle in card
    result = json.loads((CHECKPOINT / "train_result.json").read_text(encoding="utf-8"))
    assert result["dev"]["requests"]["f1"] > 0.8 and result["soft_labels"] is True


def test_the_demo_query_is_three_requests(shipped):
    assert shipped.sentences("明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度") == [
        "明天北京天气怎么样", "我想听周杰伦的稻香", "顺便把空调调到二十六度"]


@pytest.mark.parametrize("text,expected", [
    ("帮我打开空调", ["帮我打开空调"]),                                   # one request stays whole
    ("今天上海下雨吗", ["今天上海下雨吗"]),
    ("导航到故宫博物院打开微信给小明发消息", ["导航到故宫博物院", "打开微信给小明发消息"]),
    ("你好，我想听歌。谢谢", ["你好，我想听歌。", "谢谢"]),               # punctuation cuts, the comma stays inside
])
def test_real_requests(shipped, text, expected):
    assert shipped.sentences(text) == expected


def test_default_pipeline_splits_with_the_joint_decoder_over_the_student():
    pipe = Pipeline.from_config(overrides=["slots=none", "intent=none", "reply=none", "segmenter=none"])
    assert type(pipe.stage("splitter")).__name__ == "JointSentenceSplitter"
    result = pipe("明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度")
    assert [s.text for s in result.sentences] == ["明天北京天气怎么样", "我想听周杰伦的稻香", "顺便把空调调到二十六度"]
    assert [(s.start, s.end) for s in result.sentences] == [(0, 9), (9, 18), (18, 29)]


def test_long_unpunctuated_text_keeps_every_character_and_is_cut_in_every_window(shipped):
    requests = ["明天北京天气怎么样", "我想听周杰伦的稻香", "帮我打开空调", "导航到故宫博物院", "红烧肉怎么做"]
    text = "".join(requests * 200)  # 7,600 characters: about 35 overlapping windows
    spans = shipped.split([text])[0]
    assert "".join(text[a:b] for a, b in spans) == text
    # cuts are found all along the text, not only in the first window (each boundary comes from one window)
    assert {a // 1000 for a, _ in spans[1:]} == set(range(8))


def test_eval_split_with_the_default_pipeline_finds_the_joins(capsys):
    from pipeline.cli import main
    from tests.conftest import DATA

    assert main(["eval", "split", "--data", str(DATA / "split_mini.jsonl")]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the rule splitter scores 0 here (punctuation is stripped); the student finds the demo join and cuts
    # nothing wrong, but misses 今天几号|提醒我开会|播放音乐 (its recall is the weak side, see the model card)
    assert metrics["precision"] == 1.0 and metrics["recall"] > 0 and metrics["exact"] >= 0.66
