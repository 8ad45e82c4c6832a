"""End to end on the shipped lexicons and default config: the README's demo query."""

import pytest

from pipeline import Pipeline
from tests.conftest import DEMO


@pytest.fixture(scope="module")
def default_pipe() -> Pipeline:
    return Pipeline.from_config()


def test_demo_query_has_tokens_slots_and_a_reply(default_pipe):
    result = default_pipe(DEMO)
    assert result.stages == ["splitter", "segmenter", "slots", "reply"]
    (sent,) = result.sentences  # splitter=punct: no punctuation, one sentence
    assert set(sent.tokens) == {"coarse", "fine"}
    assert "周杰伦" in [t.text for t in sent.tokens["coarse"]]
    slots = {(m.surface, m.domain, m.slot) for m in sent.slots}
    assert ("北京", "location", "city") in slots
    assert ("周杰伦", "music", "singer") in slots
    assert ("稻香", "music", "song") in slots
    # everyday words of the query are not entities
    assert not {m.surface for m in sent.slots} & {"明天", "天气", "怎么样", "我想"}
    assert result.reply.text == "好的，为您播放周杰伦的稻香"
    assert set(result.timings_ms) == set(result.stages)


def test_selecting_only_location_removes_music_slots():
    result = Pipeline.from_config(overrides=["lexicons=[location]"])(DEMO)
    domains = {m.domain for s in result.sentences for m in s.slot_candidates}
    assert domains == {"location"}
    assert result.reply.source == "fallback"


def test_multi_sentence_input_keeps_spans(default_pipe):
    text = "我想听周杰伦的稻香。打开qq！"
    result = default_pipe(text)
    assert [s.text for s in result.sentences] == ["我想听周杰伦的稻香。", "打开qq！"]
    for s in result.sentences:
        assert text[s.start:s.end] == s.text
        for m in s.slot_candidates:
            assert s.text[m.start:m.end] == m.surface
