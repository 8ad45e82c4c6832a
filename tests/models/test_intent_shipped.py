"""The shipped intent checkpoint: files and card, clear requests classified right, the gazetteer's effect,
and the default pipeline classifying every sentence of the demo query."""

from __future__ import annotations

import json

import pytest

from models.intent.inference import IntentClassifier
from pipeline import Pipeline
from pipeline.config import ROOT
from tests.conftest import DEMO

CHECKPOINT = ROOT / "checkpoints" / "intent"


@pytest.fixture(scope="module")
def shipped() -> IntentClassifier:
    return IntentClassifier.from_pretrained(CHECKPOINT)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.from_config(overrides=["splitter=whole", "segmenter=none", "reply=none"])


def test_checkpoint_has_every_artefact_and_a_model_card():
    names = {p.name for p in CHECKPOINT.iterdir()}
    assert {"intent.json", "model.safetensors", "tokenizer.json", "README.md", "train_result.json"} <= names
    assert (CHECKPOINT / "model.safetensors").stat().st_size < 20e6  # fp16, a few MB
    card = (CHECKPOINT / "README.md").read_text(encoding="utf-8")
    for needle in ("duihua train intent", "| seed |", "wall time", "lexicons off", "ECE"):
        assert needle in card
    result = json.loads((CHECKPOINT / "train_result.json").read_text(encoding="utf-8"))
    assert result["dev"]["smp2017"]["accuracy"] > 88 and result["dev"]["smp2019"]["accuracy"] > 80


@pytest.mark.parametrize("text, domain", [
    ("明天北京天气怎么样", "weather"),
    ("我想听周杰伦的稻香", "music"),
    ("打开微信", "app"),
    ("你好呀今天过得怎么样", "chat"),
    ("从北京到上海的火车票", "train"),
    ("红烧肉怎么做", "cookbook"),
])
def test_clear_requests(pipe, text, domain):
    pred = pipe(text).sentences[0].intent
    assert pred.domain == domain, pred


def test_music_requests_carry_an_intent(pipe):
    pred = pipe("我想听周杰伦的稻香").sentences[0].intent
    assert pred.label == "music/PLAY" and pred.intent == "PLAY"
    assert len(pred.gates) == len("我想听周杰伦的稻香")


def test_the_default_pipeline_classifies_every_sentence_of_the_demo():
    result = Pipeline.from_config()(DEMO + "顺便把空调调到二十六度")
    assert len(result.sentences) == 3 and all(s.intent is not None for s in result.sentences)
    assert [s.intent.domain for s in result.sentences[:2]] == ["weather", "music"]
