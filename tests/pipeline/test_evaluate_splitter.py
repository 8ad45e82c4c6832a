import json

from pipeline.cli import main
from pipeline.evaluate.splitter import gold_boundaries, read_records, score, strip_punct
from tests.conftest import DATA


def test_records_lose_punctuation_and_empty_sentences():
    records = read_records(DATA / "split_mini.jsonl")
    assert records[2] == ["今天几号", "提醒我开会", "播放音乐"]
    assert gold_boundaries(records[0]) == {9} and gold_boundaries(records[1]) == set()
    assert strip_punct(" 你好，世界！ ") == "你好世界"


def test_boundary_scores():
    gold = [{4, 9}, set(), {3}]
    pred = [{4}, {2}, {3}]
    m = score(gold, pred)
    assert (m["precision"], m["recall"], m["f1"], m["exact"]) == (0.6667, 0.6667, 0.6667, 0.3333)
    assert score([{1}], [set()])["precision"] == 0.0  # never splitting is not precise


def test_eval_split_on_the_punct_baseline(capsys):
    assert main(["eval", "split", "--data", str(DATA / "split_mini.jsonl"), "splitter=punct"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # punctuation is stripped, so the rule splitter finds no boundary: only the one-sentence record is exact
    assert (metrics["recall"], metrics["f1"], metrics["exact"]) == (0.0, 0.0, 0.3333)
    assert metrics["gold_boundaries"] == 3 and metrics["records"] == 3
