"""reply=generative | retrieval | hybrid: routing, sessions, retrieval answers, and config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.schema import IntentPrediction, PipelineResult, Query, Sentence, SlotMatch
from pipeline.stages.reply_chat import GenerativeReplier, RetrievalReplier, SessionHistory
from pipeline.stages.reply_hybrid import HybridReplier

DECODING = {"strategy": "greedy", "min_new_tokens": 2, "max_new_tokens": 6}


def sentence(text: str, start: int, intent: str | None, slots: dict[str, str] | None = None) -> Sentence:
    matches = [SlotMatch(slot=k, surface=v, value=v, start=text.index(v), end=text.index(v) + len(v), domain="d",
                         lexicon="f", source="s") for k, v in (slots or {}).items()]
    domain = intent.split("/")[0] if intent else None
    pred = IntentPrediction(label=intent, domain=domain, intent=None, score=0.9) if intent else None
    return Sentence(text=text, start=start, end=start + len(text), slots=matches, intent=pred)


def doc(*sentences: Sentence, session: str | None = None) -> PipelineResult:
    return PipelineResult(query=Query(text="".join(s.text for s in sentences), session_id=session),
                          sentences=list(sentences))


@pytest.fixture
def hybrid(tiny_reply_dir: Path) -> HybridReplier:
    cfg = load_config("pipeline", [f"reply.chat.checkpoint={tiny_reply_dir}", "decoding=greedy"])
    stage = build_stage("reply", cfg.reply)
    assert isinstance(stage, HybridReplier)
    return stage


def test_hybrid_routes_task_requests_to_templates_and_chat_to_the_generator(hybrid) -> None:  # noqa: ANN001
    weather = sentence("北京天气怎么样", 0, "weather/QUERY", {"city": "北京"})
    chat = sentence("你好呀", 7, "chat")
    no_slots = sentence("订一张机票", 0, "flight/QUERY")  # no city: no template fires
    out = hybrid.process([doc(weather), doc(sentence("你好呀", 0, "chat")), doc(weather, chat), doc(no_slots),
                          PipelineResult(query=Query(text=""))])
    assert (out[0].reply.text, out[0].reply.source, out[0].reply.domain) == ("好的，为您查询北京的天气", "template",
                                                                           "weather")
    assert out[1].reply.source == "generative" and out[1].reply.score is not None
    assert out[2].reply.source == "generative" and out[2].reply.text.startswith("好的，为您查询北京的天气；")
    assert out[3].reply.source == "generative"  # generation is the fallback
    assert out[4].reply is None


def test_unknown_and_unclassified_sentences_go_to_chat(hybrid) -> None:  # noqa: ANN001
    unknown = sentence("把空调调到二十六度", 0, "unknown")
    assert hybrid.plan(doc(unknown))[1] == "把空调调到二十六度"
    assert hybrid.plan(doc(sentence("随便聊聊", 0, None)))[1] == "随便聊聊"
    weather = sentence("北京天气怎么样", 0, "weather/QUERY", {"city": "北京"})
    assert hybrid.plan(doc(weather))[1] is None


def test_generative_replies_are_stable_across_batches(tiny_reply_dir: Path) -> None:
    rep = GenerativeReplier(str(tiny_reply_dir), {"strategy": "sample", "min_new_tokens": 2, "max_new_tokens": 6})
    docs = [PipelineResult(query=Query(text=t)) for t in ("你好", "今天天气怎么样", "北京")]
    together = [d.reply.text for d in rep.process(docs)]
    alone = [rep.process([d])[0].reply.text for d in docs]
    assert together == alone


def test_sessions_keep_the_last_turns_and_forget_the_oldest_session() -> None:
    history = SessionHistory(max_turns=3, max_sessions=2)
    history.record("a", "你好", "你好呀")
    history.record("a", "吃了吗", "吃了")
    assert history.context("a", "去哪") == ["吃了吗", "吃了", "去哪"]   # 2 earlier turns + the new text
    assert history.context(None, "去哪") == ["去哪"]
    history.record("b", "一", "二")
    history.record("c", "三", "四")
    assert history.context("a", "x") == ["x"]   # "a" was the least recently used of three sessions


def test_generator_uses_the_session_context(tiny_reply_dir: Path) -> None:
    rep = GenerativeReplier(str(tiny_reply_dir), DECODING, history_turns=2)
    first = rep.process([PipelineResult(query=Query(text="你好", session_id="s1"))])[0].reply.text
    assert rep.history.context("s1", "北京") == ["你好", first, "北京"]


def test_retrieval_answers_from_its_pairs_and_falls_back(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("今 天 天 气 怎 么 样\t晴 天\n你 喜 欢 什 么 歌\t周 杰 伦\n", encoding="utf-8")
    rep = RetrievalReplier(fallback="没听懂", files=[str(pairs)])
    out = rep.process([PipelineResult(query=Query(text=t)) for t in ("明天天气怎么样", "ZZZ", "")])
    assert (out[0].reply.text, out[0].reply.source) == ("晴天", "retrieval")
    assert (out[1].reply.text, out[1].reply.source) == ("没听懂", "fallback")
    assert out[2].reply is None


@pytest.mark.parametrize("kwargs, message", [
    ({"files": ["/no/such.tsv"]}, "file not found: /no/such.tsv"),
    ({"sources": ["weibo"]}, "unknown"),
    ({}, "no retrieval pairs"),
])
def test_retrieval_config_errors_are_readable(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetrievalReplier(fallback="?", **kwargs)


def test_generator_config_errors_are_readable(tmp_path: Path, tiny_reply_dir: Path) -> None:
    with pytest.raises(ConfigError, match="duihua train reply"):
        GenerativeReplier(str(tmp_path), DECODING)
    with pytest.raises(ConfigError, match="reply.decoding"):
        GenerativeReplier(str(tiny_reply_dir), {"strategy": "nucleus"})


def test_unknown_can_be_kept_away_from_chat(tiny_reply_dir: Path) -> None:
    cfg = load_config("pipeline", [f"reply.chat.checkpoint={tiny_reply_dir}", "reply.unknown=fallback"])
    stage = build_stage("reply", cfg.reply)
    weather = sentence("北京天气怎么样", 0, "weather/QUERY", {"city": "北京"})
    unknown = sentence("把空调调到二十六度", 7, "unknown")
    mixed, alone = stage.process([doc(weather, unknown), doc(sentence("把空调调到二十六度", 0, "unknown"))])
    assert (mixed.reply.text, mixed.reply.source) == ("好的，为您查询北京的天气", "template")
    assert (alone.reply.text, alone.reply.source) == (stage.templates.fallback, "fallback")
    with pytest.raises(ConfigError, match="reply.unknown"):
        HybridReplier(stage.templates, stage.chat, unknown="ignore")
