"""``segmenter=neural`` wiring: offsets, per-query granularities, batching, config errors, eval --checkpoint."""

from __future__ import annotations

import json

import pytest

from pipeline import Pipeline
from pipeline.cli import main
from pipeline.errors import ConfigError
from pipeline.schema import Query
from tests.conftest import DATA


def neural_pipe(checkpoint, *extra: str) -> Pipeline:
    return Pipeline.from_config(overrides=["segmenter=neural", f"segmenter.checkpoint={checkpoint}", "slots=none",
                                           "intent=none", "reply=none", *extra])


def test_tokens_point_into_their_sentence_at_both_granularities(tiny_segmenter_dir):
    pipe = neural_pipe(tiny_segmenter_dir)
    result = pipe("明天北京天气怎么样？我想听周杰伦的稻香。hello world")
    assert len(result.sentences) >= 2
    for sent in result.sentences:
        assert set(sent.tokens) == {"coarse", "fine"}
        for tokens in sent.tokens.values():
            assert all(sent.text[t.start : t.end] == t.text for t in tokens)
            assert "".join(t.text for t in tokens) == "".join(sent.text.split())


def test_a_query_can_ask_for_one_granularity_and_batches_mix_requests(tiny_segmenter_dir):
    pipe = neural_pipe(tiny_segmenter_dir)
    fine_only, both = pipe.batch([Query(text="我想听稻香", granularities=["fine"]), Query(text="今天上海下雨吗")])
    assert set(fine_only.sentences[0].tokens) == {"fine"}
    assert set(both.sentences[0].tokens) == {"coarse", "fine"}
    alone = pipe(Query(text="今天上海下雨吗"))
    assert alone.sentences[0].tokens == both.sentences[0].tokens  # batching does not change the answer


def test_both_granularities_of_a_sentence_run_in_one_model_call(shipped_segmenter_pipe):
    """One call per batch, fine and coarse views side by side, each the same words as asked for alone."""
    pipe = shipped_segmenter_pipe
    model = pipe.stage("segmenter").model
    calls = []
    real = model._scores
    model._scores = lambda batch: calls.append(len(batch["input_ids"])) or real(batch)
    try:
        text = "这是一家移动互联网公司"
        result = pipe(text)
    finally:
        model._scores = real
    assert calls == [2]  # one sentence, two views, one batch
    tokens = result.sentences[0].tokens
    for granularity in ("fine", "coarse"):
        alone = model.words([text], granularity)[0]  # int8 activation scales are per batch: allow one word
        assert "".join(t.text for t in tokens[granularity]) == text and abs(len(tokens[granularity]) - len(alone)) <= 1
    assert len(tokens["coarse"]) < len(tokens["fine"])  # 移动互联网 is one coarse word, several fine ones


@pytest.fixture(scope="module")
def shipped_segmenter_pipe() -> Pipeline:
    return Pipeline.from_config(overrides=["splitter=whole", "slots=none", "intent=none", "reply=none"])


def test_stage_granularities_config_limits_the_output(tiny_segmenter_dir):
    pipe = neural_pipe(tiny_segmenter_dir, "segmenter.granularities=[coarse]")
    assert set(pipe("我想听稻香").sentences[0].tokens) == {"coarse"}


def test_missing_checkpoint_is_a_config_error_with_a_hint(tmp_path):
    with pytest.raises(ConfigError, match="duihua train segmenter"):
        neural_pipe(tmp_path / "nothing-here")


def test_eval_segment_with_a_checkpoint_folder(tiny_segmenter_dir, capsys):
    args = ["eval", "segment", "--data", str(DATA / "sighan_mini.txt"), "--granularity", "coarse",
            "--checkpoint", str(tiny_segmenter_dir)]
    assert main(args) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["granularity"] == "coarse" and metrics["gold_words"] == 17 and 0 <= metrics["f1"] <= 100


def test_eval_segment_rejects_a_missing_checkpoint_folder(tmp_path, capsys):
    args = ["eval", "segment", "--data", str(DATA / "sighan_mini.txt"), "--checkpoint", str(tmp_path / "nope")]
    assert main(args) == 2
    assert "checkpoint folder not found" in capsys.readouterr().err


def test_runtime_group_selects_the_onnx_backend_and_rejects_unknown_ones(tiny_segmenter_dir):
    onnx_pipe = neural_pipe(tiny_segmenter_dir, "runtime=onnx-int8")
    torch_pipe = neural_pipe(tiny_segmenter_dir, "runtime=torch")
    assert onnx_pipe.stage("segmenter").model.onnx is not None
    assert torch_pipe.stage("segmenter").model.onnx is None
    with pytest.raises(ConfigError, match="runtime.backend"):
        neural_pipe(tiny_segmenter_dir, "runtime.backend=tensorrt")
    with pytest.raises(ConfigError, match="runtime.precision"):
        neural_pipe(tiny_segmenter_dir, "runtime.precision=fp8")
