"""reply=generative | retrieval | hybrid: routing, sessions, retrieval answers, config errors, and the generator
loaded on first use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.errors import ConfigError
from pipeline.schema import IntentPrediction, PipelineResult, Query, Reply, Sentence, SlotMatch
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
    cfg = load_config("pipeline", ["reply=hybrid-generative", f"reply.chat.checkpoint={tiny_reply_dir}",
                                   "decoding=greedy"])
    stage = build_stage("reply", cfg.reply)
    assert isinstance(stage, HybridReplier)
    return stage


def test_hybrid_routes_task_requests_to_templates_and_chat_to_the_generator(hybrid) -> None:  # noqa: ANN001
    weather = sentence("北京天气怎么样", 0, "weather/QUERY", {"city": "北京"})
    chat = sentence("你好呀", 7, "chat")
    no_slots = sentence("订一张机票", 0, "flight/QUERY")  # no city: the flight request asks for one
    no_intent = sentence("订一张机票", 0, None)  # no intent stage and no template: the whole query to chat
    out = hybrid.process([doc(weather), doc(sentence("你好呀", 0, "chat")), doc(weather, chat), doc(no_slots),
                          PipelineResult(query=Query(text="")), doc(no_intent)])
    assert (out[0].reply.text, out[0].reply.source, out[0].reply.domain) == ("好的，为您查询北京的天气", "template",
                                                                           "weather")
    assert out[1].reply.source == "generative" and out[1].reply.score is not None
    assert out[2].reply.source == "generative" and out[2].reply.text.startswith("好的，为您查询北京的天气；")
    assert (out[3].reply.text, out[3].reply.source) == ("请问您要飞往哪个城市？", "template")
    assert out[4].reply is None
    assert out[5].reply.source == "generative"


def test_unknown_and_unclassified_sentences_go_to_chat(hybrid) -> None:  # noqa: ANN001
    unknown = sentence("把空调调到二十六度", 0, "unknown")
    assert hybrid.plan(doc(unknown))[1] == ["把空调调到二十六度"]
    assert hybrid.plan(doc(sentence("随便聊聊", 0, None)))[1] == ["随便聊聊"]
    weather = sentence("北京天气怎么样", 0, "weather/QUERY", {"city": "北京"})
    assert hybrid.plan(doc(weather))[1] == []


def test_each_request_of_a_run_gets_its_own_part_in_order(hybrid) -> None:  # noqa: ANN001
    """Chat, task, chat, chat: the chat turns keep their places, and the two adjacent ones are one turn."""
    run = doc(sentence("你好呀", 0, "chat"), sentence("北京天气怎么样", 3, "weather/QUERY", {"city": "北京"}),
              sentence("你真好", 10, "chat"), sentence("哈哈", 13, "unknown"))
    parts, chat_texts = hybrid.plan(run)
    assert parts == [None, ("好的，为您查询北京的天气", "weather"), None]
    assert chat_texts == ["你好呀", "你真好，哈哈"]
    echo = HybridReplier(hybrid.templates, EchoChat())
    (out,) = echo.process([run])
    assert out.reply.text == "<你好呀>；好的，为您查询北京的天气；<你真好，哈哈>"
    assert (out.reply.source, out.reply.score) == ("retrieval", 1.0)


class EchoChat:
    """A chat replier that says back what it was asked, so a test sees where each chat part went."""

    def answer(self, docs: list[PipelineResult], texts: list[str]) -> list[Reply]:
        return [Reply(text=f"<{t}>", source="retrieval", score=1.0) for t in texts]


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
    cfg = load_config("pipeline", ["reply=hybrid-generative", f"reply.chat.checkpoint={tiny_reply_dir}",
                                   "reply.unknown=fallback"])
    stage = build_stage("reply", cfg.reply)
    weather = sentence("北京天气怎么样", 0, "weather/QUERY", {"city": "北京"})
    unknown = sentence("把空调调到二十六度", 7, "unknown")
    mixed, alone = stage.process([doc(weather, unknown), doc(sentence("把空调调到二十六度", 0, "unknown"))])
    assert (mixed.reply.text, mixed.reply.source) == ("好的，为您查询北京的天气", "template")
    assert (alone.reply.text, alone.reply.source) == (stage.templates.fallback, "fallback")
    with pytest.raises(ConfigError, match="reply.unknown"):
        HybridReplier(stage.templates, stage.chat, unknown="ignore")


LAZY_CHILD = """
import json, sys
from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.schema import IntentPrediction, PipelineResult, Query, Reply, Sentence, SlotMatch

def state():
    return {"loaded": stage.chat.loaded, "torch": "torch" in sys.modules,
            "model_modules": any(m in sys.modules for m in ("models.reply.inference", "models.reply.selection")),
            "indexed": stage.chat.retrieval.indexed}

def ask(text, label, slots=()):
    matches = [SlotMatch(slot=k, surface=v, value=v, start=text.index(v), end=text.index(v) + len(v),
                         domain="weather", lexicon="f", source="s") for k, v in slots]
    pred = IntentPrediction(label=label, domain=label.split("/")[0], score=0.9)
    sent = Sentence(text=text, start=0, end=len(text), slots=matches, intent=pred)
    return stage.process([PipelineResult(query=Query(text=text), sentences=[sent])])[0].reply

stage = build_stage("reply", load_config("pipeline").reply)
out = {"built": state()}
out["template"] = ask("北京天气怎么样", "weather/QUERY", [("city", "北京")]).source
out["after_template"] = state()
chat = ask("你好呀今天过得怎么样", "chat")
out["chat"] = [chat.source, chat.text]
out["after_chat"] = state()
print(json.dumps(out, ensure_ascii=False))
"""


@pytest.fixture(scope="module")
def lazy_run() -> dict:
    """The shipped reply stage (reply=hybrid, sample-and-rank chat) built in a fresh interpreter, then asked a
    template query and a chat query; what was loaded, indexed and imported after each step."""
    done = subprocess.run([sys.executable, "-c", LAZY_CHILD], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[3], check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_shipped_chat_stage_loads_its_models_on_the_first_chat_sentence(lazy_run: dict) -> None:
    for step in ("built", "after_template"):
        assert lazy_run[step]["loaded"] is False and lazy_run[step]["model_modules"] is False, step
        assert lazy_run[step]["indexed"] is False, step   # the BM25 index is built on first use too
    assert lazy_run["template"] == "template"
    source, text = lazy_run["chat"]
    assert source == "retrieval" and text     # the shipped ranker reranks BM25 hits
    assert lazy_run["after_chat"]["loaded"] is True and lazy_run["after_chat"]["indexed"] is True


def test_the_shipped_chat_stage_imports_torch_only_for_a_chat_sentence(lazy_run: dict) -> None:
    assert lazy_run["built"]["torch"] is False and lazy_run["after_template"]["torch"] is False
    assert lazy_run["after_chat"]["torch"] is True


def test_a_missing_generator_is_a_config_error_before_any_load(tmp_path: Path) -> None:
    """The checkpoint is checked when the stage is built, though the model loads on first use."""
    (tmp_path / "reply.json").write_text("{}", encoding="utf-8")
    stage = GenerativeReplier(str(tmp_path), DECODING, backend="onnx")   # reply.json is there: builds
    assert not stage.loaded
    with pytest.raises(ConfigError, match="reply.checkpoint"):
        stage.process([PipelineResult(query=Query(text="你好"))])   # no model files: reported on first use
    with pytest.raises(ConfigError, match="reply.checkpoint.*duihua train reply"):
        GenerativeReplier(str(tmp_path / "none"), DECODING)


def test_concurrent_first_requests_load_the_generator_once(tiny_reply_dir: Path, monkeypatch) -> None:  # noqa: ANN001
    import threading

    from pipeline.stages import reply_chat

    rep = GenerativeReplier(str(tiny_reply_dir), DECODING)
    calls, real = [], reply_chat.load_checkpoint
    monkeypatch.setattr(reply_chat, "load_checkpoint", lambda *a, **k: calls.append(a) or real(*a, **k))
    threads = [threading.Thread(target=lambda: rep.generator) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and rep.loaded
