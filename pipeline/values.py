"""Normalized values: dates, times, durations, numbers, temperatures and percentages, found and resolved.

This plays Duckling's part for Rasa. Time expressions are found and resolved by jionlp's time parser (the
reference time is the query's ``reference_time``), numerals by cn2an. Nothing here is a hand-written table of
Chinese numerals or calendar words. jionlp is imported on first use, with its banner kept off stdout.

``value`` formats (machine-readable, ISO 8601 where one exists):

* a point in time: ``2026-12-02T08:00:00``; a whole day: ``2026-12-02``;
* a range (后天晚上, 下周, 三个小时以后): ``start/end`` (``..`` for an open end), dates alone for whole days;
* a duration (三天, 半小时): ``P3D``, ``PT30M``;
* a number: ``26``, ``1.5``; a temperature: ``26`` (degrees, as said; 零下五度 -> ``-5``); a percentage: ``50%``.

A parse that fails, or a kind that has no value form (每天早上八点, a repetition), keeps the surface as its
value: ``resolve`` never raises.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

_NUM = "[0-9０-９零〇一二两三四五六七八九十百千万亿点.]"
_NUMBER = re.compile(rf"(?:零下|负)?{_NUM}+")
_TEMPERATURE = re.compile(rf"(零下|负)?({_NUM}+)(?:摄氏)?度")
_PERCENT = re.compile(rf"百分之({_NUM}+)|([0-9.]+)[%％]")
_DIGITS = re.compile(r"[0-9０-９]+(?:\.[0-9]+)?")
KINDS = ("datetime", "duration", "number", "temperature", "percentage")


@dataclass(frozen=True)
class ValueSpan:
    start: int
    end: int          # exclusive, into the text given
    kind: str         # datetime | duration | number | temperature | percentage
    value: str


@cache
def _jionlp() -> Any:
    with contextlib.redirect_stdout(io.StringIO()):   # jionlp prints a banner on import
        import jionlp
    return jionlp


def _number(surface: str) -> str | None:
    import cn2an

    negative = surface.startswith(("零下", "负"))
    core = surface.removeprefix("零下").removeprefix("负")
    try:
        value = cn2an.cn2an(core.translate(str.maketrans("０１２３４５６７８９", "0123456789")), "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    value = -value if negative else value
    return str(int(value)) if float(value).is_integer() else str(value)


def _iso(stamp: str) -> str:
    return stamp.replace(" ", "T")


def _time_value(detail: dict[str, Any]) -> tuple[str, str] | None:
    """``(kind, value)`` from a jionlp parse, or None for kinds without a value form (time_period)."""
    kind, time = detail.get("type"), detail.get("time")
    if kind == "time_delta" and isinstance(time, dict):
        units = {"year": "Y", "month": "M", "day": "D", "hour": "H", "minute": "M", "second": "S"}
        date = "".join(f"{_plain(time[u])}{units[u]}" for u in ("year", "month", "day") if time.get(u))
        clock = "".join(f"{_plain(time[u])}{units[u]}" for u in ("hour", "minute", "second") if time.get(u))
        return ("duration", f"P{date}{'T' + clock if clock else ''}") if date or clock else None
    if kind not in ("time_point", "time_span") or not isinstance(time, list) or len(time) != 2:
        return None
    start, end = time
    if end == "inf" or start == "inf":
        return "datetime", f"{_iso(start) if start != 'inf' else '..'}/{_iso(end) if end != 'inf' else '..'}"
    if kind == "time_point" and detail.get("definition") == "accurate":
        if start.endswith("00:00:00") and end.endswith("23:59:59"):
            return "datetime", start[:10] if start[:10] == end[:10] else f"{start[:10]}/{end[:10]}"
        return "datetime", _iso(start)   # 明天早上八点, 半小时后: the point it names (jionlp gives its hour)
    return "datetime", f"{_iso(start)}/{_iso(end)}"


def _plain(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def find_times(text: str, reference: datetime) -> list[ValueSpan]:
    try:
        found = _jionlp().ner.extract_time(text, time_base=reference.timestamp(), with_parsing=True)
    except Exception as exc:  # noqa: BLE001 - a third-party parser must never fail a request
        log.debug("time extraction failed on %r: %s", text, exc)
        return []
    out = []
    for item in found:
        start, end = item["offset"]
        resolved = _time_value(item.get("detail") or {})
        kind, value = resolved or ("datetime", item["text"])
        out.append(ValueSpan(start, end, kind, value))
    return out


def find_quantities(text: str) -> list[ValueSpan]:
    """Temperatures and percentages (digits or Chinese numerals), and numbers written with digits; a Chinese
    numeral on its own is resolved only inside a tagger span (``resolve``), since 一 in 一首 is no quantity."""
    out: list[ValueSpan] = []
    for m in _TEMPERATURE.finditer(text):
        value = _number((m.group(1) or "") + m.group(2))
        if value is not None:
            out.append(ValueSpan(m.start(), m.end(), "temperature", value))
    for m in _PERCENT.finditer(text):
        value = _number(m.group(1) or m.group(2))
        if value is not None:
            out.append(ValueSpan(m.start(), m.end(), "percentage", f"{value}%"))
    taken = [(s.start, s.end) for s in out]
    for m in _DIGITS.finditer(text):
        if not any(a <= m.start() < b for a, b in taken):
            value = _number(m.group())
            if value is not None:
                out.append(ValueSpan(m.start(), m.end(), "number", value))
    return out


def extract(text: str, reference: datetime) -> list[ValueSpan]:
    """Every value span, non-overlapping: time expressions first, then the quantities outside them."""
    spans = find_times(text, reference)
    for q in find_quantities(text):
        if all(q.end <= s.start or q.start >= s.end for s in spans):
            spans.append(q)
    return sorted(spans, key=lambda s: (s.start, s.end))


def resolve(surface: str, reference: datetime, kind: str | None = None) -> str:
    """The normalized value of one surface (a tagger's date or number slot); the surface itself on failure."""
    for span in extract(surface, reference):
        if span.start == 0 and span.end == len(surface) and (kind is None or span.kind == kind):
            return span.value
    if _NUMBER.fullmatch(surface) and kind in (None, "number"):
        return _number(surface) or surface
    return surface
