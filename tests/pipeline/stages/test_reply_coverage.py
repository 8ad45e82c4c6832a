"""The shipped templates answer every domain/intent of the shipped intent model with grounded text.

The label set is read from the intent checkpoint, so a retrained model with a new label fails here until the
new label has a template: a confident task request must never fall through to the chat generator.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from pipeline.composer import build_stage
from pipeline.config import load_config
from pipeline.resources import data_root
from pipeline.schema import IntentPrediction, PipelineResult, Query, Sentence, SlotMatch
from pipeline.stages.reply_hybrid import HybridReplier

HEAD = json.loads((data_root() / "checkpoints" / "intent" / "intent.json").read_text(encoding="utf-8"))["head"]
CHAT_DOMAINS = {"chat"}
LABELS = sorted(set(HEAD["intents"]) | {d for d in HEAD["domains"] if not any(i.startswith(f"{d}/")
                                                                            for i in HEAD["intents"])})
TASK_LABELS = [label for label in LABELS if label.split("/")[0] not in CHAT_DOMAINS]
REFERENCE = datetime(2026, 12, 2, 9, 30)


class NoChat:
    def answer(self, docs: list, texts: list) -> list:
        raise AssertionError(f"a confident task request went to chat: {texts}")


@pytest.fixture(scope="module")
def replier() -> HybridReplier:
    stage = build_stage("reply", load_config("pipeline", ["reply=hybrid-retrieval"]).reply)
    return HybridReplier(stage.templates, NoChat())


def confident(label: str, slots: dict[str, str] | None = None) -> PipelineResult:
    domain, _, intent = label.partition("/")
    text = "这是一个请求" + "".join((slots or {}).values())
    matches = [SlotMatch(slot=k, surface=v, value=v, start=text.index(v), end=text.index(v) + len(v), domain="",
                         lexicon="", source="tagger") for k, v in (slots or {}).items()]
    sent = Sentence(text=text, start=0, end=len(text), slots=matches,
                    intent=IntentPrediction(label=label, domain=domain, intent=intent or None, score=0.95))
    return PipelineResult(query=Query(text=text, reference_time=REFERENCE), sentences=[sent])


def test_the_label_set_is_the_shipped_models() -> None:
    assert len(TASK_LABELS) >= 40 and "map/ROUTE" in TASK_LABELS and "calc" in TASK_LABELS


@pytest.mark.parametrize("label", TASK_LABELS)
def test_every_confident_task_label_gets_a_grounded_reply(replier: HybridReplier, label: str) -> None:
    (out,) = replier.process([confident(label)])
    assert out.reply.source == "template", label
    assert out.reply.domain == label.split("/")[0]
    assert out.reply.text != replier.templates.fallback and "{" not in out.reply.text


@pytest.mark.parametrize(("label", "slots", "reply"), [
    ("map/ROUTE", {}, "请问您要去哪里？"),
    ("map/ROUTE", {"endLoc_poi": "北京南站"}, "好的，为您导航到北京南站"),
    ("telephone/DIAL", {}, "请问您要打给谁？"),
    ("telephone/DIAL", {"name": "张三"}, "好的，正在给张三打电话"),
    ("train/QUERY", {"startDate_date": "2026-12-03", "startLoc_city": "上海市", "endLoc_city": "北京市"},
     "好的，为您查询12月3日上海市到北京市的火车"),
    ("joke/QUERY", {}, "好的，给您讲个笑话"),
    ("datetime", {}, "现在是9:30，今天是12月2日星期三"),
    ("translation/TRANSLATION", {"content": "你好", "target": "英文"}, "好的，为您把“你好”翻译成英文"),
])
def test_templates_use_the_slots_a_request_has_and_ask_for_the_missing(replier: HybridReplier, label: str,
                                                                      slots: dict, reply: str) -> None:
    (out,) = replier.process([confident(label, slots)])
    assert (out.reply.text, out.reply.source) == (reply, "template")
