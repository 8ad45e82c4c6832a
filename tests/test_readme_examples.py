"""Every README example that shows its output, run against the shipped lexicons, checkpoints and config.

Each check names the README text it proves; if that text changes, the check must change with it (the
first assertion of every test), so an example can never drift from what duihua does.
"""

from datetime import date
from pathlib import Path

import pytest

from pipeline import Pipeline, Query
from pipeline.lexicon import load_gazetteer

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = "明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度"  # the README's demo query


def shown(*snippets: str) -> None:
    """The README still says this (whitespace as written)."""
    for snippet in snippets:
        assert snippet in README, f"README no longer shows {snippet!r}: update this test with it"


@pytest.fixture(scope="module")
def default_pipe() -> Pipeline:
    return Pipeline.from_config()


@pytest.fixture(scope="module")
def api_pipe() -> Pipeline:
    return Pipeline.from_config(overrides=["lexicons=[music,location]", "reply=template"])


def slots_of(result) -> dict[str, tuple[str, str | None, str]]:
    return {m.surface: (m.slot, m.entity, m.value) for s in result.sentences for m in s.slots}


def test_full_width_latin_matches_its_alias_whole():
    shown("`ＪＡＹ　ＣＨＯＵ` matches the alias `jay chou → 周杰伦`, and the slot reports the original surface.")
    gazetteer = load_gazetteer([("music", ROOT / "lexicons" / "music")])
    whole = [h for h in gazetteer.find("ＪＡＹ　ＣＨＯＵ") if (h.start, h.end) == (0, len("ＪＡＹ　ＣＨＯＵ"))]
    assert [(h.value, h.source.slot) for h in whole] == [("周杰伦", "singer")]


def test_full_width_alias_in_a_request(default_pipe):
    shown("the slot reports the original surface")
    assert slots_of(default_pipe("播放ＪＡＹ　ＣＨＯＵ的歌"))["ＪＡＹ　ＣＨＯＵ"][2] == "周杰伦"


def test_python_api_block(api_pipe):
    shown('result = pipe("我想听周董的稻香")', 'results = pipe.batch(["打开qq", "北京南站怎么走"])',
          'pipe(Query(text="北京周杰伦", lexicons=["music"], granularities=["fine"]))   # per-request choices',
          'pipe(Query(text="明天早上八点叫我", reference_time="2026-12-01T10:00"))   # value 2026-12-02T08:00:00')
    result = api_pipe("我想听周董的稻香")
    assert slots_of(result)["周董"][1:] == ("singer", "周杰伦") and "稻香" in slots_of(result)
    assert [r.query.text for r in api_pipe.batch(["打开qq", "北京南站怎么走"])] == ["打开qq", "北京南站怎么走"]
    chosen = api_pipe(Query(text="北京周杰伦", lexicons=["music"], granularities=["fine"]))
    assert {m.domain for s in chosen.sentences for m in s.slot_candidates if m.domain} <= {"music"}
    assert all(set(s.tokens) == {"fine"} for s in chosen.sentences)
    timed = api_pipe(Query(text="明天早上八点叫我", reference_time="2026-12-01T10:00"))
    assert "2026-12-02T08:00:00" in {m.value for s in timed.sentences for m in s.slots}
    assert api_pipe.reload_lexicons() is False  # nothing edited: nothing to swap


def test_demo_query_output_as_listed(default_pipe):
    shown(f'duihua run "{QUICKSTART}"',
          "明天 → `datetime_date` with the date as `value`, 北京 → `city` (the location lexicon's 北京市)",
          "周杰伦 → `artist` (lexicon type `singer`), 稻香 → `song`, 二十六度 → `26`",
          "`intent` per sentence: `weather/QUERY` (1.00), `music/PLAY` (1.00), and `unknown` for the third",
          "its best guess, `radio/LAUNCH`, scores about 0.28",
          "`reply`: 好的，为您查询12月3日北京市的天气；好的，为您播放周杰伦的稻香；")
    result = default_pipe(QUICKSTART)
    slots = slots_of(result)
    assert slots["明天"][0] == "datetime_date" and slots["明天"][2][4] == "-"
    assert slots["北京"][1:] == ("city", "北京市")
    assert slots["周杰伦"][:2] == ("artist", "singer") and slots["稻香"][0] == "song"
    assert slots["二十六度"][2] == "26"
    intents = [s.intent for s in result.sentences]
    assert [i.label for i in intents] == ["weather/QUERY", "music/PLAY", "unknown"]
    assert [round(i.score, 2) for i in intents[:2]] == [1.0, 1.0]
    # int8 weights are quantized by the installed onnxruntime, so the third digit moves with its version
    assert intents[2].top_k[0].label == "radio/LAUNCH" and abs(intents[2].top_k[0].score - 0.28) < 0.02
    day = date.fromisoformat(slots["明天"][2])
    weather = f"好的，为您查询{day.month}月{day.day}日北京市的天气"
    assert result.reply.text.startswith(f"{weather}；好的，为您播放周杰伦的稻香；")


def test_values_normalize_through_the_lexicon(default_pipe):
    shown("(周董 → 周杰伦, 上海 → 上海市)",
          "(明天北京天气 → 明天), and the lexicon match in what it gave back joins (北京)")
    assert slots_of(default_pipe("来点周董的歌"))["周董"][2] == "周杰伦"
    assert slots_of(default_pipe("上海明天天气怎么样"))["上海"][2] == "上海市"
    weather = slots_of(default_pipe("明天北京天气"))
    assert "明天" in weather and "北京" in weather


def test_intent_and_reply_examples(default_pipe):
    shown("我想听周杰伦的稻香 → `music/PLAY`", "我想听周杰伦的稻香 → 好的，为您播放周杰伦的稻香;")
    result = default_pipe("我想听周杰伦的稻香")
    assert result.sentences[0].intent.label == "music/PLAY"
    assert result.reply.text == "好的，为您播放周杰伦的稻香"


@pytest.mark.parametrize(("text", "label", "reply", "readme"), [
    ("查一下明天上海到广州的机票", "flight/QUERY", "好的，为您查询12月3日上海市飞往广州市的航班",
     "查一下明天上海到广州的机票 → 好的，为您查询12月3日上海市飞往广州市的航班"),
    ("帮我订火车票", "train/QUERY", "请问您要去哪个城市？", "帮我订火车票 (`train/QUERY`) → 请问您要去哪个城市？"),
    ("打电话", "telephone/DIAL", "请问您要打给谁？", "打电话 (`telephone/DIAL`) → 请问您要打给谁？"),
    ("现在几点了", "datetime", "现在是9:30，今天是12月2日星期三", "现在几点了 →\n  现在是9:30，今天是12月2日星期三"),
])
def test_task_reply_examples(default_pipe, text: str, label: str, reply: str, readme: str):
    shown(readme, "from the reference time 2026-12-02T09:30")
    result = default_pipe(Query(text=text, reference_time="2026-12-02T09:30"))
    assert [s.intent.label for s in result.sentences] == [label]
    assert (result.reply.text, result.reply.source) == (reply, "template")
