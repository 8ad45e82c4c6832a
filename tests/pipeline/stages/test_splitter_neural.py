"""``splitter=neural`` wiring: span integrity, punctuation, hard inputs, runtimes, config errors, eval."""

from __future__ import annotations

import json
import random

import pytest

from pipeline import Pipeline
from pipeline.cli import main
from pipeline.errors import ConfigError, InputTooLongError
from tests.conftest import DATA


def split_pipe(checkpoint, *extra: str) -> Pipeline:
    return Pipeline.from_config(overrides=["splitter=neural", f"splitter.checkpoint={checkpoint}", "segmenter=none",
                                           "slots=none", "intent=none", "reply=none", *extra])


def texts_of(pipe: Pipeline, text: str) -> list[str]:
    return [s.text for s in pipe(text).sentences]


@pytest.mark.parametrize("threshold", [0.01, 0.5, 0.99])
def test_sentences_concatenate_back_to_unpunctuated_input(tiny_splitter_dir, threshold):
    """Whatever the model decides (an untrained model cuts at random), no character is lost or repeated."""
    pipe = split_pipe(tiny_splitter_dir, f"splitter.threshold={threshold}")
    text = "明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度"
    result = pipe(text)
    assert "".join(s.text for s in result.sentences) == text
    assert all(text[s.start:s.end] == s.text for s in result.sentences)
    if threshold == 0.01:
        assert len(result.sentences) == len(text)  # every gap cut: one character per sentence


def test_punctuation_cuts_directly_and_stays_with_its_sentence(tiny_splitter_dir):
    pipe = split_pipe(tiny_splitter_dir, "splitter.threshold=0.99")  # the model (almost) never cuts here
    assert texts_of(pipe, "你好。我想听歌！！ 今天天气怎么样？") == ["你好。", "我想听歌！！", "今天天气怎么样？"]
    assert texts_of(pipe, "你好，我想听歌") == ["你好，我想听歌"]  # a comma is not sentence-final


def test_a_model_cut_after_a_comma_keeps_the_comma_left(tiny_splitter_dir):
    pipe = split_pipe(tiny_splitter_dir, "splitter.threshold=0.01")  # cut every gap
    sentences = texts_of(pipe, "你好，《稻香》")
    assert sentences[1] == "好，"            # closing punctuation stays left of the cut
    assert sentences[2] == "《稻"            # an opening mark starts the next sentence
    assert "".join(sentences) == "你好，《稻香》"


@pytest.mark.parametrize("text,expected", [("", []), ("   ", []), ("。！", []), ("好", ["好"]), ("好。", ["好。"])])
def test_empty_and_tiny_inputs(tiny_splitter_dir, text, expected):
    assert texts_of(split_pipe(tiny_splitter_dir), text) == expected


def test_ten_thousand_characters_are_split_in_windows_without_loss(tiny_splitter_dir):
    rng = random.Random(0)
    lines = ["".join(line.split()) for line in (DATA / "pretrain_tiny.txt").read_text(encoding="utf-8").splitlines()]
    text = ""
    while len(text) < 10_000:
        text += rng.choice(lines)
    text = text[:10_000]
    with pytest.raises(InputTooLongError, match="runtime.max_chars"):  # the default limit refuses, readably
        split_pipe(tiny_splitter_dir)(text)
    result = split_pipe(tiny_splitter_dir, "runtime.max_chars=10000")(text)  # 62 positions: ~200 windows
    assert "".join(s.text for s in result.sentences) == text
    assert all(a.end <= b.start for a, b in zip(result.sentences, result.sentences[1:], strict=False))


def test_batches_give_the_same_sentences_as_single_queries(tiny_splitter_dir):
    pipe = split_pipe(tiny_splitter_dir)
    texts = ["明天北京天气怎么样我想听周杰伦的稻香", "好", "今天上海下雨吗？帮我打开空调"]
    assert [r.sentences for r in pipe.batch(texts)] == [pipe(t).sentences for t in texts]


def test_onnx_runtime_gives_the_same_sentences(tiny_splitter_dir):
    texts = ["明天北京天气怎么样我想听周杰伦的稻香", "帮我打开空调今天上海下雨吗"]
    torch_pipe = split_pipe(tiny_splitter_dir, "runtime=torch", "runtime.precision=fp32")
    onnx_pipe = split_pipe(tiny_splitter_dir, "runtime=onnx")
    assert [r.sentences for r in onnx_pipe.batch(texts)] == [r.sentences for r in torch_pipe.batch(texts)]


def test_config_errors_are_readable(tmp_path, tiny_splitter_dir):
    with pytest.raises(ConfigError, match="splitter.checkpoint.*splitter=punct"):
        split_pipe(tmp_path)
    with pytest.raises(ConfigError, match="splitter.threshold"):
        split_pipe(tiny_splitter_dir, "splitter.threshold=1.5")


def test_eval_split_scores_a_checkpoint(tiny_splitter_dir, capsys):
    assert main(["eval", "split", "--data", str(DATA / "split_mini.jsonl"), "--checkpoint",
                 str(tiny_splitter_dir)]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"f1", "precision", "recall", "exact"} <= set(metrics)
    assert all(0 <= metrics[k] <= 1 for k in ("f1", "precision", "recall", "exact"))
