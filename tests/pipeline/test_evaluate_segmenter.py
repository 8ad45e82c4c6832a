import json

from models.segmenter.scoring import score
from pipeline.cli import main
from tests.conftest import DATA


def test_bakeoff_scores_on_a_hand_example():
    gold = [["这", "是", "移动", "互联网"], ["稻香"]]
    pred = [["这是", "移动", "互联", "网"], ["稻", "香"]]
    m = score(gold, pred, vocab={"这", "是", "移动"})
    # gold 5 words, pred 6, correct 1 (移动): P 1/6, R 1/5; OOV = 互联网, 稻香, both missed
    assert (m["precision"], m["recall"], m["f1"], m["oov_recall"]) == (16.67, 20.0, 18.18, 0.0)
    assert score(gold, gold, None)["f1"] == 100.0 and score(gold, gold, None)["oov_recall"] is None


def test_eval_segment_cli_ends_with_one_json_line(capsys):
    assert main(["eval", "segment", "--data", str(DATA / "sighan_mini.txt"), "--granularity", "fine"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"f1", "precision", "recall", "oov_recall", "chars_per_s"} <= set(metrics)
    assert metrics["sentences"] == 3 and metrics["gold_words"] == 17
    assert 50.0 < metrics["f1"] <= 100.0


def test_eval_segment_rejects_an_empty_file(capsys, tmp_path):
    empty = tmp_path / "gold.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    assert main(["eval", "segment", "--data", str(empty)]) == 2
    assert "no sentences" in capsys.readouterr().err
