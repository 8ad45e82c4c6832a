import pytest

from pipeline.errors import InputError
from pipeline.schema import PipelineResult, Query, Sentence, SlotMatch, Token
from pipeline.stages.slots import GazetteerSlotTagger


@pytest.fixture
def tagger(mini_lexicons, tmp_path):
    return GazetteerSlotTagger(extra_dirs=[str(p) for p in mini_lexicons.values()], cache_dir=str(tmp_path / "c"))


def tag(tagger, text, tokens=None, lexicons=None):
    sent = Sentence(text=text, start=0, end=len(text),
                    tokens={"coarse": [Token(text=w, start=a, end=b) for w, a, b in tokens]} if tokens else {})
    doc = PipelineResult(query=Query(text=text, lexicons=lexicons), sentences=[sent])
    return tagger.process([doc])[0].sentences[0]


def test_spans_values_and_sources(tagger):
    s = tag(tagger, "我想听周董的稻香")
    assert [(m.surface, m.slot, m.value, m.start, m.end, m.source) for m in s.slots] == [
        ("周董", "singer", "周杰伦", 3, 5, "gazetteer:minimusic/singer"),
        ("稻香", "song", "稻香", 6, 8, "gazetteer:minimusic/song"),
    ]


def test_overlaps_are_kept_as_candidates_and_longest_wins(tagger):
    s = tag(tagger, "去北京南站")
    assert {(m.surface, m.slot) for m in s.slot_candidates} == {
        ("北京", "city"), ("北京", "railway_station"), ("北京南", "railway_station")}
    assert [(m.surface, m.slot) for m in s.slots] == [("北京南", "railway_station")]


def test_priority_breaks_ties_between_equal_spans(tagger):
    s = tag(tagger, "北京")
    assert [(m.slot, m.value) for m in s.slots] == [("city", "北京市")]


def test_normalized_matching_reports_original_spans(tagger):
    text = "播放ＪＡＹ　ｃｈｏｕ的歌"
    s = tag(tagger, text)
    (m,) = s.slots
    assert (m.surface, m.value, text[m.start:m.end]) == ("ＪＡＹ　ｃｈｏｕ", "周杰伦", "ＪＡＹ　ｃｈｏｕ")


def test_match_cutting_a_coarse_word_is_demoted(tagger):
    text = "二十年代的歌"
    s = tag(tagger, text, tokens=[("二十年代", 0, 4), ("的", 4, 5), ("歌", 5, 6)])
    assert [(m.surface, m.crosses_boundary) for m in s.slot_candidates] == [("十年", True)]
    assert s.slots == []
    # the same match is resolved when it aligns with words
    s = tag(tagger, "十年的歌", tokens=[("十年", 0, 2), ("的", 2, 3), ("歌", 3, 4)])
    assert [m.surface for m in s.slots] == ["十年"]


def test_demote_policy_prefers_aligned_matches_but_keeps_others():
    a = SlotMatch(slot="song", surface="香草", value="香草", start=1, end=3, domain="m", lexicon="f",
                  source="x", crosses_boundary=True)
    b = a.model_copy(update={"surface": "稻香", "start": 0, "end": 2, "crosses_boundary": False})
    c = a.model_copy(update={"surface": "十年", "start": 5, "end": 7})
    assert [m.surface for m in GazetteerSlotTagger.resolve([a, b, c], "demote")] == ["稻香", "十年"]
    assert [m.surface for m in GazetteerSlotTagger.resolve([a, b, c], "drop")] == ["稻香"]


def test_char_features_cover_every_candidate(tagger):
    s = tag(tagger, "北京南")
    assert s.char_slots == [["B-city", "B-railway_station"], ["I-city", "I-railway_station"],
                            ["I-railway_station"]]
    assert len(s.char_slots) == len(s.text)


def test_query_can_restrict_lexicons(tagger):
    s = tag(tagger, "北京周杰伦", lexicons=["minimusic"])
    assert [m.domain for m in s.slot_candidates] == ["minimusic"]
    with pytest.raises(InputError, match="unknown lexicon domain"):
        tag(tagger, "北京", lexicons=["nope"])


def test_emoji_control_and_mixed_scripts_do_not_crash(tagger):
    s = tag(tagger, "\x00😀周杰伦\u200bＡ北京\t")
    assert [m.surface for m in s.slots] == ["周杰伦", "北京"]


def test_slot_tags_give_char_features_an_id_space(tagger):
    assert tagger.slot_tags == ["B-city", "I-city", "B-railway_station", "I-railway_station",
                                "B-singer", "I-singer", "B-song", "I-song"]
    s = tag(tagger, "北京")
    assert [[tagger.slot_tags.index(t) for t in tags] for tags in s.char_slots] == [[0, 2], [1, 3]]
