import pytest

from pipeline.errors import ConfigError
from pipeline.schema import IntentPrediction, PipelineResult, Query, Sentence, SlotMatch
from pipeline.stages.reply import TemplateReplier

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
