import json

from pipeline.cli import main
from tests.conftest import DATA, mini_overrides


def test_eval_slots_scores_spans_and_ends_with_one_json_line(capsys, mini_lexicons):
    code = main(["eval", "slots", "--data", str(DATA / "smp2019_mini.json"), *mini_overrides(mini_lexicons)])
    out = capsys.readouterr().out
    assert code == 0
    metrics = json.loads(out.strip().splitlines()[-1])
    # gold: 周杰伦 稻香 南京 上海 明天 上海 (6); all found but 明天 (no lexicon has dates)
    assert metrics["gold_spans"] == 6 and metrics["predicted"] == 5
    assert metrics["recall"] == round(5 / 6, 4) and metrics["precision"] == 1.0
    assert metrics["stage"] == "slots"


def test_eval_slots_rejects_malformed_records(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"txt": "x"}]), encoding="utf-8")
    assert main(["eval", "slots", "--data", str(bad), "lexicons=[]"]) == 2
    assert "record 0" in capsys.readouterr().err
