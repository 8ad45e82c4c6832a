"""End to end on the shipped lexicons and default config: the README's demo query."""

from datetime import date

import pytest

from pipeline import Pipeline
from tests.conftest import DEMO


@pytest.fixture(scope="module")
def default_pipe() -> Pipeline:
    return Pipeline.from_config()


def test_demo_query_has_sentences_tokens_slots_and_a_reply(default_pipe):
    result = default_pipe(DEMO)
    assert result.stages == ["splitter", "segmenter", "slots", "intent", "reply"]
    weather, music = result.sentences  # the model splitter finds the join of the two requests
    assert (weather.text, music.text) == ("明天北京天气怎么样", "我想听周杰伦的稻香")
    assert set(music.tokens) == {"coarse", "fine"}
    assert "周杰伦" in [t.text for t in music.tokens["coarse"]]
    # 北京 is the location lexicon's city; 明天 a date slot with its ISO value (relative to now)
    assert ("北京", "location", "city") in {(m.surface, m.domain, m.entity) for m in weather.slots}
    (date_slot,) = [m for m in weather.slots if m.surface == "明天"]
    assert len(date_slot.value) == 10 and date_slot.value[4] == "-"
    slots = {(m.surface, m.domain, m.entity) for m in music.slots}
    assert ("周杰伦", "music", "singer") in slots
    assert ("稻香", "music", "song") in slots
    assert all(m.source.startswith("tagger") for m in music.slots)   # the learned tagger found them
    # everyday words of the query are not entities
    assert not {m.surface for s in result.sentences for m in s.slots} & {"天气", "怎么样", "我想"}
    assert (weather.intent.label, music.intent.label) == ("weather/QUERY", "music/PLAY")
    day = date.fromisoformat(date_slot.value)
    assert result.reply.text == f"好的，为您查询{day.month}月{day.day}日北京市的天气；好的，为您播放周杰伦的稻香"
    assert set(result.timings_ms) == set(result.stages)


def test_three_requests_in_one_breath_are_three_sentences(default_pipe):
    text = "明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度"
    result = default_pipe(text)
    assert [s.text for s in result.sentences] == ["明天北京天气怎么样", "我想听周杰伦的稻香", "顺便把空调调到二十六度"]
    third = result.sentences[2].intent   # no SMP domain covers air conditioning: a low score, under the threshold
    assert third.label == "unknown" and third.top_k and third.top_k[0].score < 0.5
    assert all(text[s.start:s.end] == s.text for s in result.sentences)


def test_selecting_only_location_removes_music_lexicon_matches():
    result = Pipeline.from_config(overrides=["lexicons=[location]"])(DEMO)
    domains = {m.domain for s in result.sentences for m in s.slot_candidates if m.domain}
    assert domains == {"location"}
    music = result.sentences[1]
    # what the tagger still finds there, it finds from context alone: no lexicon entry, no lexicon type
    assert all(m.source == "tagger" and m.entity is None for m in music.slots)


def test_multi_sentence_input_keeps_spans(default_pipe):
    text = "我想听周杰伦的稻香。打开qq！"
    result = default_pipe(text)
    assert [s.text for s in result.sentences] == ["我想听周杰伦的稻香。", "打开qq！"]
    for s in result.sentences:
        assert text[s.start:s.end] == s.text
        for m in s.slot_candidates:
            assert s.text[m.start:m.end] == m.surface


def test_the_splitter_and_the_slot_stage_share_one_gazetteer(default_pipe):
    """Both match against the same lexicons: loaded once at start-up, one copy in memory."""
    assert default_pipe.stage("splitter").lexicons.current is default_pipe.stage("slots").gazetteer.gazetteer
