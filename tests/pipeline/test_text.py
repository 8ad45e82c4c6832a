from pipeline.text import normalize


def test_full_width_and_case_are_folded_without_changing_length():
    raw = "ＱＱ音乐ＡＢＣ１２３　Hello！😀\x00"
    out = normalize(raw)
    assert out == "qq音乐abc123 hello!😀\x00"
    assert len(out) == len(raw)


def test_chinese_and_cjk_punctuation_are_kept_but_full_width_ascii_punctuation_folds():
    assert normalize("北京。、“”《》") == "北京。、“”《》"
    assert normalize("，：；（）") == ",:;()"  # U+FF0C.. are full-width ASCII variants
