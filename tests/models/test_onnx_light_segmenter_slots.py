"""ONNX on a warm cache loads without transformers or torch (issue #22): the segmenter and the slot tagger are
built from their checkpoints' JSON, tokenizer.json (and the bigram list, the CRF transitions), and the torch model
only inside the export callback of a cache miss; inputs are padded and outputs decoded in numpy. Each check runs
the loader in a fresh interpreter, after warming a private cache in this one (which imports torch to export),
and compares its outputs with the cold-cache loader's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.segmenter.inference import Segmenter
from models.slots.inference import SlotTagger
from pipeline import Pipeline
from pipeline.config import ROOT
from tests.conftest import run_fresh

SEGMENTER = ROOT / "checkpoints" / "segmenter"
SLOTS = ROOT / "checkpoints" / "slots"
# a text longer than the positions (cut into windows), Latin, whitespace, an empty one
TEXTS = ["我想听周杰伦的稻香", "明天北京天气怎么样", "打开qq 音乐", "", "从北京南站到上海虹桥的高铁票还有吗。" * 16]

LIGHT = """
import json, sys
from models.segmenter.inference import Segmenter
from models.slots.inference import SlotTagger
from pipeline.stages.segmenter_neural import NeuralSegmenter
import pipeline.stages.slots_fused
args = json.loads(sys.argv[1])
seg = Segmenter.from_pretrained(args["segmenter"], backend="onnx-int8", cache_dir=args["cache"])
tagger = SlotTagger.from_pretrained(args["slots"], backend="onnx-int8", cache_dir=args["cache"])
stage = NeuralSegmenter(args["segmenter"], backend="onnx-int8", cache_dir=args["cache"])
out = {"fine": seg.segment(args["texts"], "fine"), "coarse": seg.segment(args["texts"], "coarse"),
       "spans": [[[s.start, s.end, s.label, s.score] for s in row]
                 for row in tagger.predict(args["texts"], args["char_slots"])],
       "logits": [z.tolist() for z in tagger.logits(args["texts"], args["char_slots"])],
       "transformers": "transformers" in sys.modules, "torch": "torch" in sys.modules,
       "modeling": sorted(m for m in sys.modules if m.endswith(".modeling")),
       "holds_model": [seg.model is not None, tagger.model is not None, stage.model.model is not None]}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def char_slots() -> list[list[list[str]]]:
    """The character tags the default gazetteer gives the texts, as the fused slot stage passes them on."""
    pipe = Pipeline.from_config(overrides=["splitter=whole", "segmenter=none", "slots=gazetteer", "intent=none",
                                           "reply=none"])
    return [pipe(t).sentences[0].char_slots if t else [] for t in TEXTS]


@pytest.fixture(scope="module")
def cold(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Segmenter, SlotTagger]:
    """Both loaders on an empty private cache (they export into it), and the cache, now warm."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    seg = Segmenter.from_pretrained(SEGMENTER, backend="onnx-int8", cache_dir=cache)
    tagger = SlotTagger.from_pretrained(SLOTS, backend="onnx-int8", cache_dir=cache)
    return cache, seg, tagger


def as_json(value: object) -> object:
    """Tuples as lists, as they come back from the fresh interpreter."""
    return json.loads(json.dumps(value))


def test_segmenter_and_slots_on_a_warm_onnx_cache_never_import_transformers_or_torch(  # noqa: ANN001
        cold, char_slots) -> None:
    assert any(any(tags) for tags in char_slots[0]), "the gazetteer tagged nothing: the fusion goes unexercised"
    cache, seg, tagger = cold
    assert seg.model is None and tagger.model is None   # the export's torch models are not kept
    spans = [[[s.start, s.end, s.label, s.score] for s in row] for row in tagger.predict(TEXTS, char_slots)]
    assert "artist" in [s[2] for s in spans[0]]
    warm = run_fresh(LIGHT, {"segmenter": str(SEGMENTER), "slots": str(SLOTS), "cache": str(cache), "texts": TEXTS,
                      "char_slots": char_slots})
    assert warm["transformers"] is False and warm["modeling"] == []
    assert warm["torch"] is False, "torch was imported on the ONNX path (pre- or post-processing, a stage module)"
    assert warm["holds_model"] == [False, False, False]
    assert warm["fine"] == as_json(seg.segment(TEXTS, "fine"))
    assert warm["coarse"] == as_json(seg.segment(TEXTS, "coarse"))
    assert warm["fine"] != warm["coarse"]
    assert warm["spans"] == spans
    for got, want in zip(warm["logits"], tagger.logits(TEXTS, char_slots), strict=True):
        got = np.asarray(got, np.float32).reshape(-1, want.shape[1])   # an empty text's [] has no tag axis
        assert got.shape == want.shape and np.abs(got - want).max(initial=0.0) < 1e-5


def test_the_light_checkpoint_readers_match_the_torch_loaders() -> None:
    """Ids, padding id and CRF transitions read from the files are the ones the torch path gets."""
    from models.segmenter.features import CharIds as SegmenterCharIds
    from models.segmenter.inference import light_char_ids
    from models.slots.inference import TaggerSpec
    from models.slots.modeling import SlotTaggerModel
    from models.tokenization import load_char_ids, load_pad_id, load_tokenizer

    light, full = light_char_ids(SEGMENTER), SegmenterCharIds.from_tokenizer(load_tokenizer(SEGMENTER))
    assert (light.vocab, light.unk, light.cls, light.sep, light.granularity) == (
        full.vocab, full.unk, full.cls, full.sep, full.granularity)
    assert load_pad_id(SLOTS, load_char_ids(SLOTS).vocab) == (load_tokenizer(SLOTS).pad_token_id or 0)
    read, built = TaggerSpec.read(SLOTS), TaggerSpec.of_model(SlotTaggerModel.load(SLOTS))
    assert read.head == built.head and read.max_positions == built.max_positions
    assert read.transitions is not None and np.array_equal(read.transitions, built.transitions)


def test_an_onnx_tagger_builds_the_torch_model_only_for_classify(cold) -> None:  # noqa: ANN001
    tagger = SlotTagger.from_pretrained(SLOTS, backend="onnx-int8", cache_dir=cold[0])
    assert tagger.model is None
    assert tagger.classify(["我想听周杰伦的稻香"]) == ([None], [None])   # the shipped tagger has no joint heads
    assert tagger.model is not None


def test_models_without_a_torch_model_need_a_runner() -> None:
    from models.segmenter.features import BigramVocab
    from models.tokenization import load_char_ids

    with pytest.raises(ValueError, match="without a torch model"):
        Segmenter(None, load_char_ids(SEGMENTER), BigramVocab([]), max_positions=64)
    with pytest.raises(ValueError, match="without a torch model"):
        SlotTagger(None, load_char_ids(SLOTS), 0)
