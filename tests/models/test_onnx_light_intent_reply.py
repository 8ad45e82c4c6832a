"""ONNX on a warm cache loads without transformers (issue #22): the intent classifier and the reply generator
are built from their checkpoints' JSON and tokenizer.json, and the torch model only inside the export
callback of a cache miss; the intent classifier's pre- and post-processing are numpy, so it never imports
torch either. Each check runs the loader in a fresh interpreter, after warming a private cache in this one,
and compares its outputs with the cold-cache loader's."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from models.intent.inference import IntentClassifier
from pipeline import Pipeline
from pipeline.config import ROOT
from tests.conftest import run_fresh

INTENT = ROOT / "checkpoints" / "intent"
REPLY = ROOT / "checkpoints" / "reply"
INTENT_TEXTS = ["我想听周杰伦的稻香", "明天北京天气怎么样", "打开微信", "你好呀今天过得怎么样"]

LIGHT_INTENT = """
import json, sys
from dataclasses import asdict
from models.intent.inference import IntentClassifier
args = json.loads(sys.argv[1])
clf = IntentClassifier.from_pretrained(args["checkpoint"], backend=args["backend"], cache_dir=args["cache"])
results = [asdict(r) for r in clf.predict(args["texts"], args["slots"])]
print(json.dumps({"results": results, "transformers": "transformers" in sys.modules,
                  "torch": "torch" in sys.modules, "holds_model": clf.model is not None}))
"""

LIGHT_REPLY = """
import json, sys
from models.reply.decoding import DecodingConfig
from models.reply.inference import ReplyGenerator
args = json.loads(sys.argv[1])
gen = ReplyGenerator.from_pretrained(args["checkpoint"], backend=args["backend"], cache_dir=args["cache"])
replies = [[r.text, r.score] for cfg in args["decoding"] for r in gen.generate(args["contexts"], DecodingConfig(**cfg))]
print(json.dumps({"replies": replies, "transformers": "transformers" in sys.modules,
                  "holds_model": gen._model is not None}))
"""
CONTEXTS = [["你好呀今天过得怎么样"], ["我好无聊", "那我们聊聊天吧", "聊什么呢"], []]
DECODING = [{}, {"strategy": "greedy"}, {"strategy": "beam", "num_beams": 3}]


@pytest.fixture(scope="module")
def gazetteer_slots() -> list[list[list[str]]]:
    """The character tags the default gazetteer gives the texts, as the intent stage receives them."""
    pipe = Pipeline.from_config(overrides=["splitter=whole", "segmenter=none", "reply=none", "intent=none"])
    return [pipe(t).sentences[0].char_slots for t in INTENT_TEXTS]


def test_intent_on_a_warm_onnx_cache_never_imports_transformers(tmp_path: Path, gazetteer_slots) -> None:  # noqa: ANN001
    cold = IntentClassifier.from_pretrained(INTENT, backend="onnx-int8", cache_dir=tmp_path)  # exports
    assert cold.model is None   # the export's torch model is not kept
    expected = json.loads(json.dumps([asdict(r) for r in cold.predict(INTENT_TEXTS, gazetteer_slots)]))
    assert [r["label"] for r in expected[:2]] == ["music/PLAY", "weather/QUERY"]
    warm = run_fresh(LIGHT_INTENT, {"checkpoint": str(INTENT), "backend": "onnx-int8", "cache": str(tmp_path),
                                    "texts": INTENT_TEXTS, "slots": gazetteer_slots})
    assert warm["transformers"] is False and warm["holds_model"] is False
    assert warm["torch"] is False
    assert warm["results"] == expected


def test_the_light_pad_id_is_the_tokenizers(tiny_intent_dir: Path) -> None:
    from models.tokenization import load_char_ids, load_pad_id, load_tokenizer

    for folder in (INTENT, tiny_intent_dir):
        assert load_pad_id(folder, load_char_ids(folder).vocab) == (load_tokenizer(folder).pad_token_id or 0)


def test_a_classifier_without_a_model_needs_a_runner(tiny_intent_dir: Path) -> None:
    from models.intent.config import read_head_config
    from models.tokenization import load_char_ids

    _, head = read_head_config(tiny_intent_dir)
    with pytest.raises(ValueError, match="without a torch model"):
        IntentClassifier(None, load_char_ids(tiny_intent_dir), 0, head=head, max_positions=64)


def test_torch_and_onnx_agree_on_the_tiny_checkpoint_loaded_light(tiny_intent_dir: Path, tmp_path: Path) -> None:
    """The light ONNX classifier decodes the same labels as the torch one (fp32 graph: the same function)."""
    slots = [[["B-singer"], ["I-singer"]], []]
    eager = IntentClassifier.from_pretrained(tiny_intent_dir)
    onnx = IntentClassifier.from_pretrained(tiny_intent_dir, backend="onnx", cache_dir=tmp_path)
    assert onnx.model is None and onnx.max_chars == eager.max_chars
    assert [r.label for r in onnx.predict(["周杰伦", "你好"], slots)] == \
        [r.label for r in eager.predict(["周杰伦", "你好"], slots)]


def test_reply_on_a_warm_onnx_cache_never_imports_transformers(tmp_path: Path) -> None:
    from models.reply.decoding import DecodingConfig
    from models.reply.inference import ReplyGenerator

    cold = ReplyGenerator.from_pretrained(REPLY, backend="onnx-int8", cache_dir=tmp_path)   # exports both graphs
    assert cold._model is None
    expected = [[r.text, r.score] for cfg in DECODING for r in cold.generate(CONTEXTS, DecodingConfig(**cfg))]
    assert all(text for text, _ in expected)
    warm = run_fresh(LIGHT_REPLY, {"checkpoint": str(REPLY), "backend": "onnx-int8", "cache": str(tmp_path),
                                   "contexts": CONTEXTS, "decoding": DECODING})
    assert warm["transformers"] is False and warm["holds_model"] is False
    assert warm["replies"] == expected


@pytest.mark.parametrize("which", ["shipped", "tiny"])
def test_the_reply_tokenizer_is_the_saved_fast_tokenizer(which: str, tiny_reply_dir: Path) -> None:
    """Same ids, special set and reply text as transformers' tokenizer, so ONNX replies are unchanged."""
    import random

    from models.reply.features import ReplyTokenizer
    from models.tokenization import load_tokenizer

    folder = REPLY if which == "shipped" else tiny_reply_dir
    hf, light = load_tokenizer(folder), ReplyTokenizer(folder)
    assert light.all_special_ids == sorted(set(hf.all_special_ids)) and light.get_vocab() == hf.get_vocab()
    assert len(light) == len(hf)
    for name in ("cls_token_id", "sep_token_id", "pad_token_id", "mask_token_id", "unk_token_id"):
        assert getattr(light, name) == getattr(hf, name), name
    for text in ["你好呀", "ＡＢＣ abc  DEF", "我想听[SEP]周杰伦", "😀表情", "  ", "", "Hello, world!"]:
        assert light(text, add_special_tokens=False) == {"input_ids": hf(text, add_special_tokens=False)["input_ids"]}
    rng = random.Random(0)
    for _ in range(300):
        ids = [rng.randrange(len(hf)) for _ in range(rng.randrange(30))]
        assert light.decode(ids, skip_special_tokens=True).replace(" ", "") == \
            hf.decode(ids, skip_special_tokens=True).replace(" ", "")


def test_an_onnx_generator_loads_its_torch_model_for_perplexity(tiny_reply_dir: Path, tmp_path: Path) -> None:
    from models.reply.inference import ReplyGenerator

    pairs = [(["你好"], "你好呀"), (["周杰伦"], "稻香")]
    eager = ReplyGenerator.from_pretrained(tiny_reply_dir)
    onnx = ReplyGenerator.from_pretrained(tiny_reply_dir, backend="onnx", cache_dir=tmp_path)
    assert onnx._model is None
    assert onnx.perplexity(pairs) == pytest.approx(eager.perplexity(pairs), rel=1e-6)
