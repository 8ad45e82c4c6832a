import pytest
from pydantic import ValidationError

from pipeline.schema import (
    IntentPrediction,
    PipelineResult,
    Query,
    Reply,
    ScoredLabel,
    Sentence,
    SlotMatch,
    Token,
)


def full_result() -> PipelineResult:
    slot = SlotMatch(slot="singer", surface="周董", value="周杰伦", start=3, end=5, domain="music",
                     lexicon="singer.txt", source="gazetteer:music/singer", priority=30)
    sent = Sentence(
        text="我想听周董的稻香😀", start=4, end=13,
        tokens={"coarse": [Token(text="我", start=0, end=1)], "fine": [Token(text="我", start=0, end=1)]},
        slots=[slot], slot_candidates=[slot, slot.model_copy(update={"crosses_boundary": True})],
        char_slots=[[], [], [], ["B-singer"], ["I-singer"], [], [], [], []],
        intent=IntentPrediction(label="music.PLAY", domain="music", intent="PLAY", score=0.8312345678901234,
                                top_k=[ScoredLabel(label="music.PLAY", score=0.83)], gates=[0.1, 0.25]),
    )
    return PipelineResult(query=Query(text="你好。\n我想听周董的稻香😀", session_id="s1", lexicons=["music"]),
                          sentences=[sent], reply=Reply(text="好的", source="template", domain="music"),
                          timings_ms={"slots": 0.123}, stages=["slots"])


def test_json_round_trip_is_exact():
    result = full_result()
    again = PipelineResult.model_validate_json(result.model_dump_json())
    assert again == result
    assert again.model_dump_json() == result.model_dump_json()
    assert again.sentences[0].intent.score == 0.8312345678901234


def test_sentence_span_must_fit_text():
    with pytest.raises(ValidationError, match="does not fit"):
        Sentence(text="abc", start=0, end=5)


def test_unknown_fields_and_granularities_are_rejected():
    with pytest.raises(ValidationError):
        Query(text="x", colour="red")
    with pytest.raises(ValidationError):
        Sentence(text="a", start=0, end=1, tokens={"medium": []})
    with pytest.raises(ValidationError):
        Reply(text="x", source="oracle")


def test_text_that_is_not_utf8_is_refused_at_the_edge_with_its_position():
    with pytest.raises(ValidationError, match=r"lone surrogate U\+D800 at character 2"):
        Query(text="北京\ud800")
    with pytest.raises(ValidationError, match="lone surrogate|unicode string"):  # pydantic's own check, first
        Query(text="北京", session_id="s\udcff")
    assert Query(text="北京\u2028\x00\x85😀").text == "北京\u2028\x00\x85😀"  # odd but valid text passes


def test_session_id_is_an_id_not_a_payload():
    Query(text="x", session_id="s" * 128)
    with pytest.raises(ValidationError, match="at most 128"):
        Query(text="x", session_id="s" * 129)
