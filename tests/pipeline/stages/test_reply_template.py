import pytest

from pipeline.errors import ConfigError
from pipeline.schema import IntentPrediction, PipelineResult, Query, Sentence, SlotMatch
from pipeline.stages.reply_template import TemplateReplier, spoken_value

TEMPLATES = [
    {"domain": "music", "slots": ["singer", "song"], "trigger": "slots", "text": "播放{singer}的{song}"},
    {"domain": "music", "slots": ["song"], "text": "播放{song}"},
    {"domain": "weather", "text": "查询天气"},
]


def doc(slots: dict[str, str], intent: str | None = None) -> PipelineResult:
    matches = [SlotMatch(slot=k, surface=v, value=v, start=0, end=len(v), domain="d", lexicon="f", source="s")
               for k, v in slots.items()]
    pred = IntentPrediction(label=intent, domain=intent, score=0.9) if intent else None
    sent = Sentence(text="x" * 8, start=0, end=8, slots=matches, intent=pred)
    return PipelineResult(query=Query(text="x" * 8), sentences=[sent])


def test_slot_triggered_template_fires_without_intent():
    r = TemplateReplier(TEMPLATES, fallback="?").process([doc({"singer": "周杰伦", "song": "稻香"})])[0]
    assert (r.reply.text, r.reply.source, r.reply.domain) == ("播放周杰伦的稻香", "template", "music")


def test_intent_triggered_templates_need_the_intent():
    rep = TemplateReplier(TEMPLATES, fallback="没听懂")
    assert rep.process([doc({"song": "稻香"})])[0].reply.source == "fallback"
    assert rep.process([doc({"song": "稻香"}, intent="music")])[0].reply.text == "播放稻香"
    assert rep.process([doc({}, intent="weather")])[0].reply.text == "查询天气"


def test_template_with_unknown_placeholder_is_a_config_error():
    with pytest.raises(ConfigError, match="city"):
        TemplateReplier([{"domain": "w", "text": "{city}天气"}], fallback="?")


def match(value: str, surface: str) -> SlotMatch:
    return SlotMatch(slot="s", surface=surface, value=value, start=0, end=len(surface), domain="", lexicon="",
                     source="tagger")


@pytest.mark.parametrize(("value", "surface", "said"), [
    ("2026-12-03", "明天", "12月3日"),
    ("2026-12-02T08:10:00", "明早8:10", "12月2日8:10"),
    ("2026-12-02T18:00:00/2026-12-02T23:59:59", "今晚", "今晚"),
    ("PT30M", "半小时", "半小时"),
    ("上海市", "上海", "上海市"),
    ("周杰伦", "周董", "周杰伦"),
    ("北京南", "北京南站", "北京南站"),
    ("PPTV", "pptv", "PPTV"),
])
def test_values_are_said_in_words(value: str, surface: str, said: str) -> None:
    assert spoken_value(match(value, surface)) == said


def test_a_confident_request_missing_a_required_slot_is_asked_for_it() -> None:
    rep = TemplateReplier([{"domain": "map", "slots": ["destination"], "text": "导航到{destination}"},
                           {"domain": "map", "text": "打开地图"}], fallback="?",
                          asks=[{"domain": "map", "slot": "destination", "text": "去哪里？"}],
                          slot_names={"destination": ["endLoc_poi", "endLoc_city"]})
    assert rep.process([doc({}, intent="map")])[0].reply.text == "去哪里？"
    assert rep.process([doc({"endLoc_city": "北京市"}, intent="map")])[0].reply.text == "导航到北京市"
    assert rep.process([doc({}, intent="unknown")])[0].reply.source == "fallback"   # not confident: no question


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"asks": [{"domain": "map", "slot": "x", "text": "去{x}？"}]}, "no values to fill"),
    ({"slot_names": {"destination": []}}, "reply.slot_names.destination"),
    ({"asks": [{"domain": "map", "text": "去哪里？"}]}, "slot"),
])
def test_question_and_group_config_errors_are_readable(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TemplateReplier(TEMPLATES, fallback="?", **kwargs)
