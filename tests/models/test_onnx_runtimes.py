"""ONNX Runtime backends of the intent classifier and the reply generator (decoder step with past keys/values):
parity with torch on a few real-shaped inputs, and what happens when a cached ONNX file is broken."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from models.common.onnx import OnnxLoadError, load_runner
from models.intent.inference import IntentClassifier
from models.reply.decoding import DecodingConfig
from models.reply.inference import ReplyGenerator
from models.reply.modeling import decode_step, encode_source

TEXTS = ["我想听周杰伦的稻香", "明天北京天气怎么样", "打开qq", "顺便把空调调到二十六度", "你好"]
SLOTS = [[[], [], [], ["B-singer"], ["I-singer"], ["I-singer"], [], ["B-song"], ["I-song"]], [], [], [], []]


@pytest.mark.parametrize(("backend", "tolerance"), [("onnx", 1e-4), ("onnx-int8", 0.5)])
def test_intent_onnx_matches_torch(tiny_intent_dir: Path, tmp_path: Path, backend: str, tolerance: float) -> None:
    eager = IntentClassifier.from_pretrained(tiny_intent_dir)
    onnx = IntentClassifier.from_pretrained(tiny_intent_dir, backend=backend, cache_dir=tmp_path)
    assert onnx.onnx is not None and eager.onnx is None
    dom_t, int_t, gates_t = eager.logits(TEXTS, SLOTS)
    dom_o, int_o, gates_o = onnx.logits(TEXTS, SLOTS)   # one padded batch: the dynamic axes are exercised
    assert np.abs(dom_t - dom_o).max() < tolerance and np.abs(int_t - int_o).max() < tolerance
    for g1, g2 in zip(gates_t, gates_o, strict=True):
        assert g1.shape == g2.shape and np.abs(g1 - g2).max() < tolerance
    if backend == "onnx":   # fp32 ONNX is the same function: the same labels, decoded the same way
        assert [r.label for r in onnx.predict(TEXTS, SLOTS)] == [r.label for r in eager.predict(TEXTS, SLOTS)]


def test_intent_onnx_handles_the_ngram_bag_with_padding(tmp_path: Path, tiny_tokenizer) -> None:  # noqa: ANN001
    """The shipped model has the hashed n-gram bag; texts of different lengths pad it (index 0)."""
    from transformers import BertConfig

    from models.intent.modeling import HeadConfig, SlotAwareIntentModel

    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=len(tiny_tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)
    head = HeadConfig(domains=["a", "b"], intents=["a/X"], slot_types=["singer", "song"], slot_dim=8, attn_dim=16,
                      attn_heads=2, context_heads=2, ngram_buckets=101, ngram_dim=8)
    SlotAwareIntentModel(encoder, head).save(tmp_path / "m")
    tiny_tokenizer.save_pretrained(str(tmp_path / "m"))
    eager = IntentClassifier.from_pretrained(tmp_path / "m")
    onnx = IntentClassifier.from_pretrained(tmp_path / "m", backend="onnx", cache_dir=tmp_path / "cache")
    for a, b in zip(eager.logits(TEXTS, SLOTS)[:2], onnx.logits(TEXTS, SLOTS)[:2], strict=True):
        assert np.abs(a - b).max() < 1e-4


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_reply_decoder_step_with_past_matches_torch(tiny_reply_dir: Path, tmp_path: Path, backend: str) -> None:
    eager = ReplyGenerator.from_pretrained(tiny_reply_dir)
    onnx = ReplyGenerator.from_pretrained(tiny_reply_dir, backend=backend, cache_dir=tmp_path)
    ids, attention = eager._sources([["你好呀"], ["我想听周杰伦的稻香"]])   # right-padded: pad keys stay masked
    logits_t, state_t = encode_source(eager.decoder, ids, attention)
    logits_o, state_o = encode_source(onnx.decoder, ids, attention)
    tolerance = 1e-4 if backend == "onnx" else 0.5
    assert (logits_t - logits_o).abs().max() < tolerance
    token = logits_t.argmax(-1)
    for _ in range(3):   # steps over a growing cache
        step_t, step_o = decode_step(eager.decoder, token, state_t), decode_step(onnx.decoder, token, state_o)
        assert (step_t - step_o).abs().max() < tolerance
        assert [k.shape for k, _ in state_t.cache] == [k.shape for k, _ in state_o.cache]
        token = step_t.argmax(-1)
    if backend == "onnx":   # same logits, so greedy and beam search give the same replies
        contexts = [["你好呀"], ["我想听周杰伦的稻香"], []]
        for cfg in (DecodingConfig(strategy="greedy", max_new_tokens=8),
                    DecodingConfig(strategy="beam", num_beams=3, max_new_tokens=8)):
            assert [r.text for r in onnx.generate(contexts, cfg)] == [r.text for r in eager.generate(contexts, cfg)]


def test_a_corrupt_cached_file_is_exported_again(tiny_intent_dir: Path, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    IntentClassifier.from_pretrained(tiny_intent_dir, backend="onnx", cache_dir=tmp_path)
    (cached,) = (tmp_path / "onnx").rglob("model.onnx")
    cached.write_bytes(cached.read_bytes()[:1000])   # truncated, as a killed copy would leave it
    with caplog.at_level(logging.WARNING):
        clf = IntentClassifier.from_pretrained(tiny_intent_dir, backend="onnx", cache_dir=tmp_path)
    assert "exporting it again" in caplog.text
    assert clf.predict(["你好"])[0].label


def test_a_file_that_never_loads_raises_a_readable_error(tmp_path: Path) -> None:
    files = [tmp_path / "weights.bin"]
    files[0].write_bytes(b"weights")
    builds = []

    def broken_export(path: Path) -> None:
        builds.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not an onnx model")

    with pytest.raises(OnnxLoadError, match=r"cannot load .*model\.onnx.*use runtime=torch"):
        load_runner("onnx", files, tmp_path / "cache", broken_export)
    assert len(builds) == 2   # exported again once, then given up


_RACER = """
import os, sys, time
from pathlib import Path
from models.common.onnx import cached_model

log, cache, weights = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

def build(path: Path) -> None:
    with log.open("a") as fh:
        fh.write(f"{os.getpid()}\\n")
    with path.open("wb") as fh:  # a slow writer: a reader that does not wait would see half a file
        for _ in range(20):
            fh.write(b"x" * 1000)
            fh.flush()
            time.sleep(0.02)

print(cached_model("onnx", [weights], cache, build))
"""


def test_parallel_cold_starts_export_once_and_all_get_the_whole_file(tmp_path: Path) -> None:
    """Three processes on an empty cache: one exports, the others wait for its file (they used to share one
    temporary name and fail half the time)."""
    import subprocess
    import sys

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    log = tmp_path / "builds.log"
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(log), str(tmp_path / "cache"), str(weights)],
                              cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1 and Path(paths.pop()).read_bytes() == b"x" * 20000
    assert len(log.read_text().split()) == 1
    assert not list((tmp_path / "cache").rglob("*.tmp.onnx"))


def test_the_optimized_copy_gives_the_same_outputs_and_a_bad_one_is_replaced(
        tiny_intent_dir: Path, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    """The first session writes the graph as ONNX Runtime optimized it next to the cached file; later sessions
    load that copy (same outputs); a damaged copy is dropped with a warning and the run goes on from the file."""
    from models.common.onnx import optimized_path

    first = IntentClassifier.from_pretrained(tiny_intent_dir, backend="onnx-int8", cache_dir=tmp_path)
    (cached,) = (tmp_path / "onnx").rglob("model.int8.onnx")
    copy = optimized_path(cached)
    assert copy.is_file() and copy.stat().st_size > 0
    again = IntentClassifier.from_pretrained(tiny_intent_dir, backend="onnx-int8", cache_dir=tmp_path)
    for a, b in zip(first.logits(TEXTS, SLOTS)[:2], again.logits(TEXTS, SLOTS)[:2], strict=True):
        assert np.array_equal(a, b)
    copy.write_bytes(b"not a graph")
    with caplog.at_level(logging.WARNING):
        fallback = IntentClassifier.from_pretrained(tiny_intent_dir, backend="onnx-int8", cache_dir=tmp_path)
    assert "does not load" in caplog.text and not copy.exists()
    for a, b in zip(first.logits(TEXTS, SLOTS)[:2], fallback.logits(TEXTS, SLOTS)[:2], strict=True):
        assert np.array_equal(a, b)
