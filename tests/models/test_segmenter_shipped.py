"""The shipped segmenter checkpoint: files and card, the granularity switch, and hard inputs."""

from __future__ import annotations

import json
import random

import pytest

from models.segmenter.inference import Segmenter
from pipeline.config import ROOT

CHECKPOINT = ROOT / "checkpoints" / "segmenter"


@pytest.fixture(scope="module")
def shipped() -> Segmenter:
    return Segmenter.from_pretrained(CHECKPOINT, precision="fp32")


def test_checkpoint_has_every_artefact_and_a_model_card():
    names = {p.name for p in CHECKPOINT.iterdir()}
    assert {"segmenter.json", "model.safetensors", "bigrams.txt", "tokenizer.json", "README.md",
            "train_result.json"} <= names
    assert (CHECKPOINT / "model.safetensors").stat().st_size < 20e6  # fp16, a few MB
    card = (CHECKPOINT / "README.md").read_text(encoding="utf-8")
    for needle in ("duihua train segmenter", "| seed |", "wall time", "PKU fine", "MSR coarse"):
        assert needle in card
    result = json.loads((CHECKPOINT / "train_result.json").read_text(encoding="utf-8"))
    assert result["fine_f1"] > 90 and result["coarse_f1"] > 90


def test_granularity_token_switches_between_coarse_and_fine(shipped):
    text = "这是一家移动互联网公司"
    coarse, fine = shipped.cut(text, "coarse"), shipped.cut(text, "fine")
    # each follows its own standard: MSR writes 这是 and long compounds as one word, PKU splits 一/家
    assert len(coarse) < len(fine) and "".join(coarse) == "".join(fine) == text
    assert fine == ["这", "是", "一", "家", "移动", "互联网", "公司"]
    assert shipped.cut("中国人民银行行长周小川", "coarse") == ["中国人民银行", "行长", "周小川"]
    assert shipped.cut("中国人民银行行长周小川", "fine") == ["中国", "人民", "银行", "行长", "周", "小川"]


def test_msr_style_coarse_keeps_a_person_name_whole_and_pku_fine_splits_it(shipped):
    assert "江泽民" in shipped.cut("江泽民发表新年讲话", "coarse")
    assert shipped.cut("江泽民发表新年讲话", "fine")[:2] == ["江", "泽民"]


def test_numbers_and_latin_are_never_cut_inside(shipped):
    text = "2024年我用MP3听了3.5小时"
    for granularity in ("fine", "coarse"):
        words = shipped.cut(text, granularity)
        assert "".join(words) == text
        assert any("2024" in w for w in words) and any("3.5" in w for w in words)
        assert not any(w in {"202", "24", "3.", "5"} for w in words)


@pytest.mark.parametrize("granularity", ["fine", "coarse"])
def test_empty_latin_only_and_very_long_inputs(shipped, granularity):
    rng = random.Random(0)
    sentence = "明天北京天气怎么样我想听周杰伦的稻香，顺便把空调调到二十六度。"
    long_text = "".join(rng.choice([sentence, "这是一家移动互联网公司。"]) for _ in range(800))[:10_000]
    assert len(long_text) == 10_000
    empty, spaces, latin, long_spans = shipped.segment(["", " \t", "hello world again", long_text], granularity)
    assert empty == [] and spaces == []
    assert latin == [(0, 5), (6, 11), (12, 17)]
    assert "".join(long_text[a:b] for a, b in long_spans) == long_text
    assert all(b - a <= 20 for a, b in long_spans)  # no runaway words across window joins
