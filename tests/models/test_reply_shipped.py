"""The shipped reply generator: files and card, replies to chat, and the default pipeline's hybrid routing."""

from __future__ import annotations

import json

import pytest

from models.reply.decoding import DecodingConfig
from models.reply.inference import ReplyGenerator
from pipeline import Pipeline
from pipeline.config import ROOT

CHECKPOINT = ROOT / "checkpoints" / "reply"


@pytest.fixture(scope="module")
def shipped() -> ReplyGenerator:
    return ReplyGenerator.from_pretrained(CHECKPOINT)


def test_checkpoint_has_every_artefact_and_a_model_card():
    names = {p.name for p in CHECKPOINT.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "reply.json", "README.md",
            "train_result.json"} <= names
    assert (CHECKPOINT / "model.safetensors").stat().st_size < 20e6  # fp16, a few MB
    card = (CHECKPOINT / "README.md").read_text(encoding="utf-8")
    for needle in ("duihua train reply", "| seed |", "wall time", "Example exchanges", "distinct-2"):
        assert needle in card
    result = json.loads((CHECKPOINT / "train_result.json").read_text(encoding="utf-8"))
    assert len(result["examples"]) == 10 and result["ppl"] < 200


def test_replies_are_chinese_text_of_sensible_length(shipped):
    replies = shipped.generate([["你好呀"], ["今天好累啊"], ["周末去哪里玩"], []], DecodingConfig(seed=0))
    for reply in replies:
        assert 1 <= len(reply.text) <= 32 and any("\u4e00" <= c <= "\u9fff" for c in reply.text)


def test_reference_replies_are_likelier_than_shuffled_ones(shipped):
    pairs = [(["你吃饭了吗"], "吃了，你呢"), (["晚安"], "晚安，好梦"), (["生日快乐"], "谢谢亲爱的")]
    shuffled = [(c, r) for (c, _), (_, r) in zip(pairs, pairs[1:] + pairs[:1], strict=True)]
    assert shipped.perplexity(pairs) < shipped.perplexity(shuffled)


def test_default_pipeline_answers_chat_with_ranked_replies_and_tasks_with_templates():
    pipe = Pipeline.from_config()
    chat, task = pipe.batch(["你好呀今天过得怎么样", "我想听周杰伦的稻香"])
    assert chat.sentences[0].intent.domain == "chat"
    assert chat.reply.source == "retrieval" and chat.reply.text and chat.reply.score is not None
    assert (task.reply.source, task.reply.text) == ("template", "好的，为您播放周杰伦的稻香")
