"""``intent=slot_attention`` wiring: every sentence classified, gates per character, the unknown threshold,
lexicons on/off, config errors, and ``duihua eval intent`` on both file formats."""

from __future__ import annotations

import json

import pytest

from pipeline import Pipeline
from pipeline.cli import main
from pipeline.errors import ConfigError
from tests.conftest import DATA, mini_overrides


def intent_pipe(checkpoint, lexicon_dirs, *extra: str) -> Pipeline:
    return Pipeline.from_config(overrides=mini_overrides(lexicon_dirs, "intent=slot_attention",
                                                         f"intent.checkpoint={checkpoint}", "segmenter=none",
                                                         *extra))


def test_every_sentence_gets_a_prediction_with_gates(tiny_intent_dir, mini_lexicons):
    pipe = intent_pipe(tiny_intent_dir, mini_lexicons, "intent.threshold=0")
    result = pipe("明天北京天气怎么样。我想听周杰伦的稻香！")
    assert len(result.sentences) == 2
    for sentence in result.sentences:
        pred = sentence.intent
        assert pred is not None and 0 <= pred.score <= 1 and len(pred.top_k) == 3
        assert len(pred.gates) == len(sentence.text) and all(0 < g < 1 for g in pred.gates)
        assert pred.label in {"chat", "weather", "music/PLAY", "music/SEARCH", "train/QUERY"}
    assert result.sentences[1].char_slots[3] == ["B-singer"]  # the model was fed the gazetteer's tags


@pytest.mark.parametrize(("runtime", "tolerance"), [("torch", 1e-3), ("onnx-int8", 1e-2)])
def test_batches_match_single_queries(tiny_intent_dir, mini_lexicons, runtime, tolerance):
    """int8 dynamic quantization scales activations per batch, so a score may move in the third decimal
    with the batch it ran in (README, "Runtimes and latency"); fp32 torch agrees to padding noise."""
    pipe = intent_pipe(tiny_intent_dir, mini_lexicons, "intent.threshold=0", f"runtime={runtime}")
    texts = ["我想听稻香", "北京南站到上海", "你好", ""]
    batch = pipe.batch(texts)
    for text, doc in zip(texts, batch, strict=True):
        single = pipe(text)
        assert [s.intent.label for s in doc.sentences] == [s.intent.label for s in single.sentences]
        for a, b in zip(doc.sentences, single.sentences, strict=True):
            assert a.intent.score == pytest.approx(b.intent.score, abs=tolerance)


def test_below_the_threshold_the_label_is_unknown(tiny_intent_dir, mini_lexicons):
    pred = intent_pipe(tiny_intent_dir, mini_lexicons, "intent.threshold=0.99")("我想听稻香").sentences[0].intent
    assert (pred.label, pred.domain, pred.intent) == ("unknown", "unknown", None)
    assert pred.top_k and pred.top_k[0].score < 0.99


def test_lexicons_off_needs_no_slot_stage(tiny_intent_dir, mini_lexicons):
    pipe = intent_pipe(tiny_intent_dir, mini_lexicons, "slots=none", "intent.use_lexicons=false",
                       "intent.return_gates=false")
    pred = pipe("我想听稻香").sentences[0].intent
    assert pred is not None and pred.gates is None


def test_lexicons_on_without_a_slot_stage_is_a_config_error(tiny_intent_dir, mini_lexicons):
    with pytest.raises(ConfigError, match=r"intent reads \['sentences.slots'\]"):
        intent_pipe(tiny_intent_dir, mini_lexicons, "slots=none")


@pytest.mark.parametrize("override, message", [
    ("intent.threshold=1.5", "intent.threshold"),
    ("intent.top_k=0", "intent.top_k"),
    ("intent.checkpoint=/no/such/intent", "no intent checkpoint"),
])
def test_config_mistakes(tiny_intent_dir, mini_lexicons, override, message):
    with pytest.raises(ConfigError, match=message):
        intent_pipe(tiny_intent_dir, mini_lexicons, override)


def run_eval(capsys, checkpoint, mini_lexicons, data) -> tuple[int, dict | None, str]:
    code = main(["eval", "intent", "--data", str(data), "--checkpoint", str(checkpoint),
                 *mini_overrides(mini_lexicons)])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]) if code == 0 else None, err


def test_eval_smp2019_format(capsys, tiny_intent_dir, mini_lexicons):
    code, metrics, _ = run_eval(capsys, tiny_intent_dir, mini_lexicons, DATA / "smp2019_mini.json")
    assert code == 0 and metrics["format"] == "smp2019" and metrics["examples"] == 4
    for key in ("accuracy", "domain_accuracy", "intent_accuracy", "macro_f1"):
        assert 0 <= metrics[key] <= 100


def test_eval_smp2017_format(capsys, tiny_intent_dir, mini_lexicons, tmp_path):
    data = tmp_path / "dev.jsonl"
    data.write_text('{"query": "我想听稻香", "label": "music"}\n{"query": "你好", "label": "chat"}\n', "utf-8")
    code, metrics, _ = run_eval(capsys, tiny_intent_dir, mini_lexicons, data)
    assert code == 0 and metrics["format"] == "smp2017" and metrics["intent_accuracy"] is None
    assert metrics["accuracy"] == metrics["domain_accuracy"]


@pytest.mark.parametrize("content, message", [
    ('{"query": "你好", "label": "chat"}\nnot json\n', "dev.jsonl:2: not valid JSON"),
    ('[{"text": "你好"}]', "record 0"),
    ("\n\n", "no labelled examples"),
])
def test_eval_bad_files_exit_2_with_one_line(capsys, tiny_intent_dir, mini_lexicons, tmp_path, content, message):
    data = tmp_path / "dev.jsonl"
    data.write_text(content, encoding="utf-8")
    code, _, err = run_eval(capsys, tiny_intent_dir, mini_lexicons, data)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
