from pipeline.schema import PipelineResult
from pipeline.stages.splitter import PunctSentenceSplitter, WholeTextSplitter


def split(text: str) -> list[tuple[str, int, int]]:
    return [(s.text, s.start, s.end) for s in PunctSentenceSplitter().split(text)]


def test_splits_after_terminators_and_keeps_spans_into_the_original():
    text = "  明天天气怎么样？！ 播放稻香。打开qq"
    sents = split(text)
    assert [s for s, _, _ in sents] == ["明天天气怎么样？！", "播放稻香。", "打开qq"]
    for s, a, b in sents:
        assert text[a:b] == s


def test_unpunctuated_text_is_one_sentence_and_newlines_split():
    assert split("明天北京天气怎么样我想听周杰伦的稻香") == [("明天北京天气怎么样我想听周杰伦的稻香", 0, 18)]
    assert [s for s, _, _ in split("第一行\n第二行")] == ["第一行", "第二行"]


def test_punctuation_only_and_blank_fragments_are_dropped():
    assert split("。。。？") == []
    assert split("   ") == []
    assert [s for s, _, _ in split("😀！好")] == ["😀！", "好"]


def test_whole_text_splitter_trims():
    doc = WholeTextSplitter().process([PipelineResult.from_text("  你好。再见 ")])[0]
    assert [(s.text, s.start, s.end) for s in doc.sentences] == [("你好。再见", 2, 7)]
