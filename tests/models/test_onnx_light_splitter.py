"""The splitter stages under ONNX with a warm cache: no transformers, no torch model, the same outputs.

Why a subprocess: whether ``transformers`` was imported is a property of a whole process, and the test
session has imported it long before (the fixtures build tiny models). The first child runs on a cold cache
(it must build the model to export it), the second on the cache the first left; both print what they computed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.splitter.inference import Splitter
from models.splitter.scorer import RequestScorer
from pipeline.config import ROOT

TEXTS = ["明天北京天气怎么样我想听周杰伦的稻香", "顺便把空调调到二十六度然后放首歌", "你好", "打开qq我想听歌"]
CHILD = """
import json, sys
from models.splitter.inference import Splitter
from models.splitter.scorer import RequestScorer

cache, texts = sys.argv[1], json.loads(sys.argv[2])
out = {}
for name, folder in json.loads(sys.argv[3]).items():
    splitter = Splitter.from_pretrained(folder, backend="onnx-int8", cache_dir=cache)
    out[name] = {"split": splitter.split(texts), "runner_only": splitter.model is None,
                 "probs": splitter.probabilities([list(t) for t in texts])}
scorer = RequestScorer.from_pretrained(sys.argv[4], backend="onnx-int8", cache_dir=cache)
out["scorer"] = {"logp": scorer.log_probabilities(texts), "runner_only": scorer.model is None}
out["transformers"] = "transformers" in sys.modules
print(json.dumps(out))
"""


def _child(cache: Path, splitters: dict[str, Path], scorer: Path) -> dict:
    """Load and run the ONNX loaders in a fresh interpreter; what it computed, and whether it imported
    transformers."""
    folders = json.dumps({k: str(v) for k, v in splitters.items()})
    proc = subprocess.run([sys.executable, "-c", CHILD, str(cache), json.dumps(TEXTS, ensure_ascii=False), folders,
                           str(scorer)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_warm_onnx_cache_runs_without_transformers_and_gives_the_cold_outputs(tiny_splitter_dir: Path,
                                                                              tmp_path: Path) -> None:
    """The shipped splitter and scorer, and the tiny splitter with bigram inputs (the shipped one has none)."""
    splitters = {"shipped": ROOT / "checkpoints" / "splitter", "bigrams": tiny_splitter_dir}
    scorer = ROOT / "checkpoints" / "request_scorer"
    cold = _child(tmp_path, splitters, scorer)
    assert cold["transformers"]  # the export built the torch models: this test can see the import
    assert len(list((tmp_path / "onnx").rglob("model.int8.onnx"))) == 3
    warm = _child(tmp_path, splitters, scorer)
    assert not warm["transformers"]
    assert warm == {**cold, "transformers": False}
    assert warm["shipped"]["runner_only"] and warm["scorer"]["runner_only"]  # runners only: no torch model was built
    assert warm["shipped"]["split"][0] == [[0, 9], [9, 18]]  # the demo query is two requests


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
