"""``splitter=joint`` wiring (tiny untrained models) and, with the shipped checkpoints, the swapped demo query."""

from __future__ import annotations

import json

import pytest

from pipeline import Pipeline
from pipeline.cli import main
from pipeline.errors import ConfigError


def joint_pipe(splitter_dir, scorer_dir, *extra: str) -> Pipeline:
    return Pipeline.from_config(overrides=["splitter=joint", f"splitter.checkpoint={splitter_dir}",
                                           f"splitter.scorer_checkpoint={scorer_dir}", "segmenter=none",
                                           "slots=none", "intent=none", "reply=none", *extra])


@pytest.mark.parametrize("candidate_min", [0.01, 0.5, 0.99])
def test_sentences_concatenate_back_to_the_input(tiny_splitter_dir, tiny_request_scorer_dir, candidate_min):
    pipe = joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, f"splitter.candidate_min={candidate_min}")
    text = "明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度"
    result = pipe(text)
    assert "".join(s.text for s in result.sentences) == text
    assert all(text[s.start:s.end] == s.text for s in result.sentences)


@pytest.mark.parametrize("text,expected", [("", []), ("   ", []), ("。！？", []), ("好", ["好"]),
                                           ("你好。我想听歌！", ["你好。", "我想听歌！"])])
def test_empty_one_character_and_punctuation_only(tiny_splitter_dir, tiny_request_scorer_dir, text, expected):
    pipe = joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.candidate_min=0.99")
    assert [s.text for s in pipe(text).sentences] == expected


def test_two_thousand_characters_keep_every_character(tiny_splitter_dir, tiny_request_scorer_dir):
    pipe = joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.max_span=3")
    text = ("我想听周杰伦的稻香明天北京天气怎么样" * 112)[:2000]
    assert "".join(s.text for s in pipe(text).sentences) == text


def test_onnx_runtime_gives_the_same_sentences(tiny_splitter_dir, tiny_request_scorer_dir, tmp_path):
    text = "明天北京天气怎么样我想听周杰伦的稻香"
    eager = joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.candidate_min=0.3")
    onnx = joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.candidate_min=0.3",
                      "runtime=onnx", f"paths.cache={tmp_path}")
    assert [s.text for s in onnx(text).sentences] == [s.text for s in eager(text).sentences]


def test_config_errors_are_readable(tmp_path, tiny_splitter_dir, tiny_request_scorer_dir):
    with pytest.raises(ConfigError, match="scorer_checkpoint.*request-scorer"):
        joint_pipe(tiny_splitter_dir, tmp_path)
    with pytest.raises(ConfigError, match="candidate_min"):
        joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.candidate_min=0")
    with pytest.raises(ConfigError, match="max_span"):
        joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.max_span=0")


def test_eval_split_scores_the_joint_splitter(tiny_splitter_dir, tiny_request_scorer_dir, tmp_path, capsys):
    data = tmp_path / "dev.jsonl"
    data.write_text(json.dumps({"sentences": ["明天天气怎么样", "我想听稻香"]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    code = main(["eval", "split", "--data", str(data), "splitter=joint",
                 f"splitter.checkpoint={tiny_splitter_dir}", f"splitter.scorer_checkpoint={tiny_request_scorer_dir}"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["stage"] == "split" and 0 <= metrics["f1"] <= 1


def test_the_swapped_demo_query_splits_into_its_two_requests():
    """The shipped default on the demo's two requests in the other order: the tagger reads that 稻香 is a song,
    so the gap after it becomes a candidate, and the piece evidence takes the cut."""
    result = Pipeline.from_config()("我想听周杰伦的稻香明天北京天气怎么样")
    assert [s.text for s in result.sentences] == ["我想听周杰伦的稻香", "明天北京天气怎么样"]
    assert [s.intent.label.split("/")[0] for s in result.sentences] == ["music", "weather"]


def test_intent_confidence_as_further_evidence(tiny_splitter_dir, tiny_request_scorer_dir, tiny_intent_dir, tmp_path):
    text = "明天北京天气怎么样我想听周杰伦的稻香"
    pipe = joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.candidate_min=0.3",
                      "splitter.intent_weight=1.0", f"splitter.intent_checkpoint={tiny_intent_dir}",
                      f"paths.cache={tmp_path}")
    assert "".join(s.text for s in pipe(text).sentences) == text
    with pytest.raises(ConfigError, match="intent_checkpoint"):
        joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.intent_weight=1.0",
                   f"splitter.intent_checkpoint={tmp_path / 'none'}")


def test_the_lexicon_entry_penalty_keeps_entries_whole(tiny_splitter_dir, tiny_request_scorer_dir, tmp_path):
    """An untrained tagger cuts at random; with a large entry penalty no cut falls inside 周杰伦."""
    text = "我想听周杰伦的稻香明天北京天气怎么样"
    pipe = joint_pipe(tiny_splitter_dir, tiny_request_scorer_dir, "splitter.candidate_min=0.001",
                      "splitter.scorer_weight=0", "splitter.boundary_weight=0", "splitter.cut_bias=1",
                      "splitter.entity_weight=100", f"paths.cache={tmp_path}")
    sentences = pipe(text).sentences
    ends = {s.end for s in sentences}
    assert not ends & {4, 5}              # 周|杰|伦 (offsets 3..6) is one music entry
    assert len(sentences) > 5             # every other gap was cut (cut_bias > 0, nothing against it)
