"""ONNX on a warm cache loads without transformers (issue #22): the intent classifier and the reply generator
are built from their checkpoints' JSON and tokenizer.json, and the torch model only inside the export
callback of a cache miss. Each check runs the loader in a fresh interpreter, after warming a private cache
in this one, and compares its outputs with the cold-cache loader's."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from models.intent.inference import IntentClassifier
from pipeline import Pipeline
from pipeline.config import ROOT

INTENT = ROOT / "checkpoints" / "intent"
INTENT_TEXTS = ["我想听周杰伦的稻香", "明天北京天气怎么样", "打开微信", "你好呀今天过得怎么样"]

LIGHT_INTENT = """
import json, sys
from dataclasses import asdict
from models.intent.inference import IntentClassifier
args = json.loads(sys.argv[1])
clf = IntentClassifier.from_pretrained(args["checkpoint"], backend=args["backend"], cache_dir=args["cache"])
results = [asdict(r) for r in clf.predict(args["texts"], args["slots"])]
print(json.dumps({"results": results, "transformers": "transformers" in sys.modules,
                  "holds_model": clf.model is not None}))
"""


def run_fresh(script: str, args: dict) -> dict:
    """``script`` in a new interpreter (a clean ``sys.modules``), its last stdout line as JSON."""
    done = subprocess.run([sys.executable, "-c", script, json.dumps(args, ensure_ascii=False)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "exporting" not in done.stderr, "the warm cache was not used"
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    assert warm["results"] == expected


def test_the_light_pad_id_is_the_tokenizers(tiny_intent_dir: Path) -> None:
    from models.intent.inference import pad_token_id
    from models.tokenization import load_char_ids, load_tokenizer

    for folder in (INTENT, tiny_intent_dir):
        assert pad_token_id(folder, load_char_ids(folder)) == (load_tokenizer(folder).pad_token_id or 0)


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
