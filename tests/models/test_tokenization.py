from pathlib import Path

import pytest

from models.tokenization import GRANULARITY_TOKENS, SPECIAL_TOKENS, load_tokenizer
from pipeline.text import normalize

MIXED = "明天 ＡＢＣ１２３！😀北京\tHello，世界…2024年（测试）\n周杰伦"


def test_round_trip_through_save_and_auto_tokenizer(tiny_tokenizer, tmp_path):
    tiny_tokenizer.save_pretrained(str(tmp_path))
    loaded = load_tokenizer(tmp_path)
    assert loaded.get_vocab() == tiny_tokenizer.get_vocab()
    assert loaded(MIXED)["input_ids"] == tiny_tokenizer(MIXED)["input_ids"]
    assert loaded.convert_tokens_to_ids(SPECIAL_TOKENS[:7]) == list(range(7))


def test_one_token_per_non_space_character_with_exact_offsets(tiny_tokenizer):
    enc = tiny_tokenizer(MIXED, add_special_tokens=False, return_offsets_mapping=True)
    tokens = tiny_tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert len(tokens) == sum(not ch.isspace() for ch in MIXED)
    for token, (start, end) in zip(tokens, enc["offset_mapping"], strict=True):
        assert end == start + 1
        original = MIXED[start]
        assert token == normalize(original) or token == "[UNK]"


def test_normalization_matches_the_gazetteer_map(tiny_tokenizer):
    text = "ＡＢＣｘｙｚ１２３ABC"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.convert_ids_to_tokens(ids) == list(normalize(text))


def test_decode_gives_the_normalized_text_without_spaces(tiny_tokenizer):
    text = "明天 北京天气怎么样 Hello"
    ids = tiny_tokenizer(text)["input_ids"]
    assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == normalize(text).replace(" ", "")


@pytest.mark.parametrize("marker", GRANULARITY_TOKENS)
def test_granularity_token_is_one_special_token(tiny_tokenizer, marker):
    ids = tiny_tokenizer(f"{marker}明天")["input_ids"]
    assert tiny_tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", marker, "明", "天", "[SEP]"]


@pytest.mark.parametrize("name", ["splitter", "segmenter", "slots", "intent", "request_scorer", "reply"])
def test_char_ids_without_transformers_match_the_tokenizer(name):
    """ONNX inference reads ids from tokenizer.json alone; they must be the transformers tokenizer's ids."""
    from models.common.char_ids import CharIds
    from models.tokenization import load_char_ids, load_tokenizer

    folder = Path(__file__).resolve().parents[2] / "checkpoints" / name
    light, full = load_char_ids(folder), CharIds.from_tokenizer(load_tokenizer(folder))
    assert (light.vocab, light.unk, light.cls, light.sep) == (full.vocab, full.unk, full.cls, full.sep)


def test_importing_tokenization_and_persistence_does_not_import_transformers():
    import subprocess
    import sys

    code = ("import sys, models.tokenization, models.common.persistence, pipeline.stages.runtime_checks; "
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"
