"""``duihua export <stage>``: ONNX files for both backends, parity against torch, readable errors."""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main


def test_export_writes_both_backends_and_reports_parity(tiny_intent_dir, tmp_path, capsys):  # noqa: ANN001
    code = main(["export", "intent", "--checkpoint", str(tiny_intent_dir), "--output", str(tmp_path / "out"),
                 "--no-dev-metric", f"paths.cache={tmp_path / 'cache'}"])
    out = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads(out[-1])
    assert code == 0 and metrics["stage"] == "intent"
    assert metrics["onnx_max_abs_diff"] < 1e-4 and metrics["onnx-int8_max_abs_diff"] < 0.5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.int8.onnx", "model.onnx"]
    assert all(p.startswith(str(tmp_path / "cache")) for p in metrics["onnx_files"])   # what the runtime reads


def test_export_of_the_generator_writes_the_decoder_step_and_head(tiny_reply_dir, tmp_path, capsys):  # noqa: ANN001
    code = main(["export", "reply", "--checkpoint", str(tiny_reply_dir), "--no-dev-metric",
                 f"paths.cache={tmp_path}"])
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and metrics["onnx_max_abs_diff"] < 1e-4
    assert sorted(p.rsplit("/", 1)[1] for p in metrics["onnx-int8_files"]) == ["decoder_head.int8.onnx",
                                                                             "decoder_step.int8.onnx"]


def test_export_errors_are_one_line(tmp_path, capsys):  # noqa: ANN001
    assert main(["export", "lexicons"]) == 2
    assert "stage must be one of splitter, segmenter, slots, intent, reply" in capsys.readouterr().err
    assert main(["export", "intent", "--checkpoint", str(tmp_path / "missing")]) == 2
    assert "checkpoint folder not found" in capsys.readouterr().err


def test_export_of_the_slot_tagger_agrees_with_torch(tmp_path, capsys):  # noqa: ANN001
    code = main(["export", "slots", "--no-dev-metric", f"paths.cache={tmp_path}"])
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and metrics["onnx_max_abs_diff"] < 1e-3
    assert [p.rsplit("/", 1)[1] for p in metrics["onnx-int8_files"]] == ["slots.int8.onnx"]


@pytest.mark.parametrize("stage, fixture, missing", [
    ("intent", "tiny_intent_dir", "nlu/smp2017/train.jsonl"),
    ("reply", "tiny_reply_dir", "chat/lccc-toy/multiturn.json"),
])
def test_export_without_dev_data_skips_the_metric_with_a_note(request, tmp_path, capsys, stage, fixture, missing):
    checkpoint = request.getfixturevalue(fixture)
    code = main(["export", stage, "--checkpoint", str(checkpoint), "paths.data=/nonexistent",
                 f"paths.cache={tmp_path}"])
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and metrics["dev_metric"].endswith(f"(/nonexistent/{missing} not found)")
    assert metrics["torch_dev_metric"] is None and metrics["onnx-int8_dev_metric"] is None


def test_export_output_that_is_a_file_is_refused_before_export(tmp_path, capsys):
    out = tmp_path / "out"
    out.write_text("")
    assert main(["export", "intent", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"duihua: error: --output {out}: not a folder (export copies its ONNX files into a folder)\n"
