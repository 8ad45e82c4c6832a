"""``slots=fused`` with the shipped tagger: learned spans, lexicon values, normalized values, odd input."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pipeline import Pipeline, PipelineResult, Query

REF = datetime(2026, 12, 1, 10, 0)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline.from_config(overrides=["intent=none", "reply=none", "runtime=torch"])


def slots(result: PipelineResult) -> list[tuple[str, str, str]]:
    return [(m.surface, m.value, m.source.partition(":")[0]) for s in result.sentences for m in s.slots]


def test_learned_spans_take_the_lexicon_entry_they_coincide_with(pipe: Pipeline) -> None:
    result = pipe(Query(text="我想听周董的稻香", reference_time=REF))
    found = {m.surface: m for s in result.sentences for m in s.slots}
    assert found["周董"].value == "周杰伦" and found["周董"].entity == "singer"   # the lexicon's normalized value
    assert found["周董"].source.startswith("tagger") and found["周董"].score is not None
    assert found["稻香"].entity == "song"
    assert {m.source for s in result.sentences for m in s.slot_candidates} >= {"tagger+gazetteer:music/singer",
                                                                               "gazetteer:music/singer"}


def test_a_train_request_gets_its_date_normalized_and_its_destination(pipe: Pipeline) -> None:
    result = pipe(Query(text="帮我查一下明天去上海的火车票", reference_time=REF))
    found = {m.surface: m for s in result.sentences for m in s.slots}
    assert found["明天"].value == "2026-12-02"
    assert "上海" in found


def test_values_no_training_data_tags_are_slots_with_machine_readable_values(pipe: Pipeline) -> None:
    result = pipe(Query(text="把空调调到二十六度", reference_time=REF))
    (temp,) = [m for s in result.sentences for m in s.slots if m.surface == "二十六度"]
    assert (temp.slot, temp.value, temp.source) in {("temperature", "26", "values:temperature")} or (
        temp.source.startswith("tagger") and temp.value == "26")


def test_reference_time_changes_the_value_and_defaults_to_now(pipe: Pipeline) -> None:
    a = pipe(Query(text="明天早上八点叫我起床", reference_time=REF))
    values = [m.value for s in a.sentences for m in s.slots if "八点" in m.surface]
    assert values == ["2026-12-02T08:00:00"]
    b = pipe("明天早上八点叫我起床")   # no reference time: relative to now
    tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
    assert [m.value for s in b.sentences for m in s.slots if "八点" in m.surface] == [f"{tomorrow}T08:00:00"]


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "🎵周杰伦🎵", "\x00\x07", "我想听周杰伦的稻香" * 222])
def test_odd_input_gives_a_valid_result(pipe: Pipeline, text: str) -> None:
    result = pipe(Query(text=text[:2000], reference_time=REF))
    assert PipelineResult.model_validate_json(result.model_dump_json()) == result
    for s in result.sentences:
        for m in [*s.slots, *s.slot_candidates]:
            assert s.text[m.start:m.end] == m.surface
        taken = sorted((m.start, m.end) for m in s.slots)
        assert all(a[1] <= b[0] for a, b in zip(taken, taken[1:], strict=False))   # resolved: no overlaps
