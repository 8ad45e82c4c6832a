"""Tiny tokenizers and configs for model tests: no network, no shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.tokenization import build_tokenizer, build_vocab, count_chars
from tests.conftest import DATA

TINY_ARCH = {"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64,
             "max_position_embeddings": 64}


@pytest.fixture(scope="session")
def tiny_tokenizer():
    text = (DATA / "pretrain_tiny.txt").read_text(encoding="utf-8").splitlines()
    return build_tokenizer(build_vocab(count_chars(text), min_count=1))


@pytest.fixture
def hub_style_checkpoint(tmp_path: Path) -> Path:
    """A random BERT + its own WordPiece tokenizer saved with save_pretrained, as a hub checkpoint would be."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"你好北京天气明怎么样我想听"]
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    core = BertWordPieceTokenizer(str(vocab_file), lowercase=True)
    tok = BertTokenizerFast(tokenizer_object=core._tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                            cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    out = tmp_path / "tiny-hub-bert"
    tok.save_pretrained(str(out))
    BertModel(BertConfig(vocab_size=len(vocab), **TINY_ARCH)).save_pretrained(str(out))
    return out
