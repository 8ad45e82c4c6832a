"""The splitter stages under ONNX with a warm cache: no torch, no transformers, no torch model, the same outputs.

Why a subprocess: whether ``torch`` or ``transformers`` was imported is a property of a whole process, and the
test session has imported both long before (the fixtures build tiny models). The first child runs on a cold
cache (it must build the model to export it, so it imports torch), the second on the cache the first left;
both print what they computed. Pre- and post-processing on the ONNX path are numpy (``collate_numpy``,
``activations``); the last checks hold them to what torch's ``collate`` and activations give.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.splitter.activations import log_sigmoid, sigmoid
from models.splitter.features import IGNORE, collate, collate_numpy, encode_example
from models.splitter.inference import Splitter
from models.splitter.scorer import RequestScorer, encode_piece
from models.splitter.scorer import collate as scorer_collate
from pipeline.config import ROOT

TEXTS = ["明天北京天气怎么样我想听周杰伦的稻香", "顺便把空调调到二十六度然后放首歌", "你好", "打开qq我想听歌"]
CHILD = """
import json, sys
from models.splitter.inference import Splitter
from models.splitter.joint import JointDecoder
from models.splitter.scorer import RequestScorer
from pipeline.config import load_config
from pipeline.stages.splitter_neural import NeuralSentenceSplitter

cache, texts = sys.argv[1], json.loads(sys.argv[2])
out = {}
for name, folder in json.loads(sys.argv[3]).items():
    splitter = Splitter.from_pretrained(folder, backend="onnx-int8", cache_dir=cache)
    out[name] = {"split": splitter.split(texts), "runner_only": splitter.model is None,
                 "probs": splitter.probabilities([list(t) for t in texts])}
scorer = RequestScorer.from_pretrained(sys.argv[4], backend="onnx-int8", cache_dir=cache)
out["scorer"] = {"logp": scorer.log_probabilities(texts), "runner_only": scorer.model is None}
lexicons = dict(load_config("pipeline", []).lexicons.domains)   # the shipped tagger reads their tags
stage = NeuralSentenceSplitter(json.loads(sys.argv[3])["shipped"], backend="onnx-int8", cache_dir=cache,
                               lexicon_domains=lexicons)
out["stage"] = stage.model.split(texts)
out["joint"] = JointDecoder(stage.model, [(scorer.log_probabilities, 1.0)]).split(texts)
out["transformers"] = "transformers" in sys.modules
out["torch"] = "torch" in sys.modules
print(json.dumps(out))
"""


def _child(cache: Path, splitters: dict[str, Path], scorer: Path) -> dict:
    """Load and run the ONNX loaders in a fresh interpreter; what it computed, and whether it imported
    torch or transformers."""
    folders = json.dumps({k: str(v) for k, v in splitters.items()})
    proc = subprocess.run([sys.executable, "-c", CHILD, str(cache), json.dumps(TEXTS, ensure_ascii=False), folders,
                           str(scorer)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_warm_onnx_cache_runs_without_torch_and_gives_the_cold_outputs(tiny_splitter_dir: Path,
                                                                        tmp_path: Path) -> None:
    """The shipped splitter and scorer (alone, as the ``splitter=neural`` stage and jointly), and the tiny
    splitter with bigram inputs (the shipped one has none)."""
    splitters = {"shipped": ROOT / "checkpoints" / "splitter", "bigrams": tiny_splitter_dir}
    scorer = ROOT / "checkpoints" / "request_scorer"
    cold = _child(tmp_path, splitters, scorer)
    assert cold["transformers"] and cold["torch"]  # the export built the torch models: this test sees imports
    assert len(list((tmp_path / "onnx").rglob("model.int8.onnx"))) == 3
    warm = _child(tmp_path, splitters, scorer)
    assert not warm["transformers"] and not warm["torch"]
    assert warm == {**cold, "transformers": False, "torch": False}
    assert warm["shipped"]["runner_only"] and warm["scorer"]["runner_only"]  # runners only: no torch model was built
    assert warm["shipped"]["split"][0] == warm["stage"][0] == [[0, 9], [9, 18]]  # the demo query: two requests
    assert warm["joint"][0] == [[0, 9], [9, 18]]
    _assert_numpy_post_processing_is_torchs(tmp_path)


def _assert_numpy_post_processing_is_torchs(cache: Path) -> None:
    """On the warm cache, in this (torch-importing) process: the shipped models' probabilities and cuts are
    what the torch post-processing of the same graph outputs gives (torch.sigmoid / logsigmoid on tensors
    from ``collate``), to float32 rounding."""
    splitter = Splitter.from_pretrained(ROOT / "checkpoints" / "splitter", backend="onnx-int8", cache_dir=cache)
    seqs = [list(t) for t in TEXTS]
    logits = splitter.onnx(collate([encode_example(c, splitter.char_ids, tag_vocab=splitter.tag_vocab)
                                    for c in seqs]))
    want = torch.sigmoid(logits.float())
    for k, got in enumerate(splitter.probabilities(seqs)):
        ref = want[k, 1:1 + len(seqs[k])].tolist()
        assert max(abs(x - y) for x, y in zip(got, ref, strict=True)) < 1e-6
        assert [x >= 0.5 for x in got] == [y >= 0.5 for y in ref]
    scorer = RequestScorer.from_pretrained(ROOT / "checkpoints" / "request_scorer", backend="onnx-int8",
                                           cache_dir=cache)
    batch = scorer_collate([encode_piece(t, scorer.char_ids, scorer.max_chars) for t in TEXTS])
    ref = torch.nn.functional.logsigmoid(scorer.onnx(batch).float()).tolist()
    got = scorer.log_probabilities(TEXTS)
    assert max(abs(x - y) for x, y in zip(got, ref, strict=True)) < 1e-6


def test_onnx_loaders_give_what_they_gave_when_they_built_the_model(tiny_splitter_dir: Path,
                                                                     tiny_request_scorer_dir: Path,
                                                                     tmp_path: Path) -> None:
    """In-process parity with fp32 ONNX against torch on the tiny checkpoints (same graphs, same decoding)."""
    texts = [list(t) for t in TEXTS]
    eager = Splitter.from_pretrained(tiny_splitter_dir, precision="fp32")
    onnx = Splitter.from_pretrained(tiny_splitter_dir, backend="onnx", cache_dir=tmp_path)
    assert onnx.model is None and onnx.max_chars == eager.max_chars
    for a, b in zip(onnx.probabilities(texts), eager.probabilities(texts), strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-4
    eager_scorer = RequestScorer.from_pretrained(tiny_request_scorer_dir)
    onnx_scorer = RequestScorer.from_pretrained(tiny_request_scorer_dir, backend="onnx", cache_dir=tmp_path)
    assert onnx_scorer.model is None and onnx_scorer.max_chars == eager_scorer.max_chars
    for x, y in zip(onnx_scorer.log_probabilities(TEXTS), eager_scorer.log_probabilities(TEXTS), strict=True):
        assert abs(x - y) < 1e-4


def test_a_runner_less_splitter_is_refused() -> None:
    with pytest.raises(ValueError, match="ONNX runner"):
        Splitter(None, None)  # type: ignore[arg-type]


def test_numpy_activations_are_torchs_to_float32_rounding() -> None:
    """Across the logit range, the extremes included (no overflow, no -inf)."""
    x = np.concatenate([np.linspace(-120, 120, 4001), [0.0, 1e-8, -1e-8, 88.8, -88.8, 200.0, -200.0]]).astype(
        np.float32)
    t = torch.from_numpy(x)
    assert np.allclose(sigmoid(x), torch.sigmoid(t).numpy(), rtol=1e-6, atol=1e-7)
    assert np.allclose(log_sigmoid(x), torch.nn.functional.logsigmoid(t).numpy(), rtol=1e-6, atol=1e-7)
    assert sigmoid(x).dtype == log_sigmoid(x).dtype == np.float32
    assert np.isfinite(log_sigmoid(x)).all()


def test_collate_numpy_pads_as_the_model_expects() -> None:
    """int64 ids and mask, [PAD] = 0 after each example, float32 labels padded with IGNORE; ``collate`` is the
    same arrays as tensors (training and backend=torch)."""
    batch = [{"input_ids": np.array([2, 5, 6, 3], dtype=np.int32), "bigram_left": np.array([0, 7, 8, 0]),
              "labels": np.array([IGNORE, 1.0, IGNORE, IGNORE], dtype=np.float32)},
             {"input_ids": np.array([2, 9, 3], dtype=np.int32), "bigram_left": np.array([0, 4, 0]),
              "labels": np.array([IGNORE, 0.0, IGNORE], dtype=np.float32)}]
    arrays, tensors = collate_numpy(batch), collate(batch)
    assert list(arrays) == ["input_ids", "attention_mask", "bigram_left", "labels"]
    assert arrays["input_ids"].dtype == arrays["attention_mask"].dtype == np.int64
    assert arrays["input_ids"].tolist() == [[2, 5, 6, 3], [2, 9, 3, 0]]
    assert arrays["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert arrays["bigram_left"].tolist() == [[0, 7, 8, 0], [0, 4, 0, 0]]
    assert arrays["labels"].dtype == np.float32
    assert arrays["labels"].tolist() == [[IGNORE, 1.0, IGNORE, IGNORE], [IGNORE, 0.0, IGNORE, IGNORE]]
    assert tensors["input_ids"].dtype == torch.long and tensors["labels"].dtype == torch.float32
    assert all(np.array_equal(v, tensors[k].numpy()) for k, v in arrays.items())
