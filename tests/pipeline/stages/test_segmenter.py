import pytest

from pipeline.schema import PipelineResult, Query, Sentence
from pipeline.stages.segmenter import JiebaSegmenter


@pytest.fixture(scope="module")
def seg() -> JiebaSegmenter:
    return JiebaSegmenter()


def test_fine_refines_compounds_into_dictionary_words(seg):
    assert seg.refine("移动互联网") == ["移动", "互联网"]
    assert seg.refine("北京大学") == ["北京", "大学"]


def test_fine_keeps_names_and_words_without_a_full_cover(seg):
    for word in ("周杰伦", "怎么样", "稻香", "我"):
        assert seg.refine(word) == [word]


def test_tokens_slice_the_sentence_at_both_granularities(seg):
    text = "这是一家移动互联网公司 ＪＡＹ的Hello世界😀"
    doc = PipelineResult(query=Query(text=text), sentences=[Sentence(text=text, start=0, end=len(text))])
    sent = seg.process([doc])[0].sentences[0]
    for gran in ("coarse", "fine"):
        toks = sent.tokens[gran]
        assert all(text[t.start:t.end] == t.text for t in toks)
        assert all(not t.text.isspace() for t in toks)
        assert "".join(t.text for t in toks) == text.replace(" ", "")
    assert "ＪＡＹ" in [t.text for t in sent.tokens["coarse"]]  # full-width Latin stays one word


def test_query_can_ask_for_one_granularity(seg):
    doc = PipelineResult(query=Query(text="你好", granularities=["fine"]),
                         sentences=[Sentence(text="你好", start=0, end=2)])
    assert list(seg.process([doc])[0].sentences[0].tokens) == ["fine"]
