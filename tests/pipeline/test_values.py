"""Normalized values against a fixed reference time (2026-12-01 10:00, a Tuesday)."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipeline.values import extract, resolve

REF = datetime(2026, 12, 1, 10, 0, 0)


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("明天", "datetime", "2026-12-02"),
    ("明天早上八点", "datetime", "2026-12-02T08:00:00"),
    ("下周三下午三点", "datetime", "2026-12-09T15:00:00"),
    ("半小时后", "datetime", "2026-12-01T10:30:00"),
    ("后天晚上", "datetime", "2026-12-03T18:00:00/2026-12-03T23:59:59"),
    ("三天", "duration", "P3D"),
    ("二十六度", "temperature", "26"),
    ("零下五度", "temperature", "-5"),
    ("百分之五十", "percentage", "50%"),
    ("30%", "percentage", "30%"),
])
def test_a_whole_expression_resolves_to_its_value(text: str, kind: str, value: str) -> None:
    assert [(s.start, s.end, s.kind, s.value) for s in extract(text, REF)] == [(0, len(text), kind, value)]


def test_values_are_found_inside_a_request_with_their_offsets() -> None:
    text = "明天早上八点把空调调到二十六度"
    assert [(text[s.start:s.end], s.value) for s in extract(text, REF)] == [
        ("明天早上八点", "2026-12-02T08:00:00"), ("二十六度", "26")]


@pytest.mark.parametrize("text", ["", "😀😀😀", "打开qq", "\x00\x07", "啊" * 2000])
def test_text_without_values_gives_none_and_never_raises(text: str) -> None:
    assert extract(text, REF) == []


def test_an_unparseable_surface_keeps_itself_as_value() -> None:
    assert resolve("改天", REF) == "改天"
    assert resolve("三百五十", REF) == "350"
