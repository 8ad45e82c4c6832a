"""``runtime=onnx|onnx-int8`` reaches the intent and reply stages too, and an ONNX model that cannot be
loaded stops the pipeline with one readable line (exit code 2) instead of running a slower backend."""

from __future__ import annotations

import pytest

from pipeline import Pipeline
from pipeline.cli import main
from pipeline.errors import ConfigError
from tests.conftest import mini_overrides


def overrides(intent_dir, reply_dir, lexicons, *extra: str) -> list[str]:  # noqa: ANN001
    return mini_overrides(lexicons, "intent=slot_attention", f"intent.checkpoint={intent_dir}", "segmenter=none",
                          "reply=generative", f"reply.checkpoint={reply_dir}", "intent.threshold=0", *extra)


def test_onnx_runtime_reaches_intent_and_reply_with_the_same_results(tiny_intent_dir, tiny_reply_dir,
                                                                     mini_lexicons, tmp_path):  # noqa: ANN001
    texts = ["我想听周杰伦的稻香", "明天北京天气怎么样。你好"]
    eager = Pipeline.from_config(overrides(tiny_intent_dir, tiny_reply_dir, mini_lexicons, "decoding=greedy",
                                           "runtime=torch"))
    onnx = Pipeline.from_config(overrides(tiny_intent_dir, tiny_reply_dir, mini_lexicons, "decoding=greedy",
                                          "runtime=onnx", f"paths.cache={tmp_path}"))
    assert onnx.stage("intent").model.onnx is not None and eager.stage("intent").model.onnx is None
    assert type(onnx.stage("reply").generator.decoder).__name__ == "OnnxDecoder"
    for a, b in zip(eager.batch(texts), onnx.batch(texts), strict=True):
        assert [s.intent.label for s in a.sentences] == [s.intent.label for s in b.sentences]
        assert a.reply.text == b.reply.text


def test_an_onnx_model_that_does_not_load_is_one_line_and_exit_2(tiny_intent_dir, tiny_reply_dir, mini_lexicons,
                                                                 tmp_path, monkeypatch, capsys):  # noqa: ANN001
    import models.common.onnx as onnx_module

    def refuse(self, path, threads=None):  # noqa: ANN001, ANN202 - a runtime that rejects every file
        raise RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model failed")

    monkeypatch.setattr(onnx_module.OnnxRunner, "__init__", refuse)
    args = mini_overrides(mini_lexicons, "intent=slot_attention", f"intent.checkpoint={tiny_intent_dir}",
                          "segmenter=none", "reply=none", "runtime=onnx", f"paths.cache={tmp_path}")
    with pytest.raises(ConfigError, match=r"intent: runtime.backend=onnx: ONNX Runtime cannot load .*runtime=torch"):
        Pipeline.from_config(args)
    code = main(["run", *args, "你好"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("duihua: error: intent: runtime.backend=onnx")
