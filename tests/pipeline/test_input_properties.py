"""Arbitrary text through the whole shipped pipeline: a valid result, or one readable line, never a crash.

Hypothesis draws from every Unicode category, lone surrogates, control and separator characters included
(what JSON escapes and undecodable argv bytes can put into a Python string), and from mixtures of those
with ordinary Chinese requests, so the models see odd characters in real-shaped text.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import Pipeline
from pipeline.errors import InputError
from pipeline.schema import PipelineResult

ODD = st.characters(codec=None, categories=("Cs", "Cc", "Cf", "Zl", "Zp", "Zs", "Co", "So", "Mn"))
REQUESTS = st.sampled_from(["明天北京天气怎么样", "我想听周杰伦的稻香", "打开qq", "ＪＡＹ　ＣＨＯＵ", ""])
TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=ODD, max_size=20),
    st.lists(st.one_of(REQUESTS, st.text(alphabet=ODD, max_size=3)), max_size=6).map("".join),
)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.from_config()


def check(pipe: Pipeline, texts: list[str]) -> None:
    try:
        results = pipe.batch(texts)
    except InputError as exc:
        message = str(exc)
        assert "\n" not in message and "surrogate" in message
        assert any(any(0xD800 <= ord(c) <= 0xDFFF for c in t) for t in texts)
        return
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        assert result.query.text == text
        for sentence in result.sentences:
            assert text[sentence.start:sentence.end] == sentence.text
            for slot in sentence.slots:
                assert sentence.text[slot.start:slot.end] == slot.surface
        assert PipelineResult.model_validate_json(result.model_dump_json()) == result  # valid JSON out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_any_single_text(pipe, text):
    check(pipe, [text])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXT, min_size=2, max_size=6))
def test_any_batch(pipe, texts):
    check(pipe, texts)
