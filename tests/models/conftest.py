"""Tiny tokenizers and configs for model tests: no network, no shared data."""

from __future__ import annotations

import json
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


@pytest.fixture
def tiny_nlu_data(tmp_path: Path) -> Path:
    """A miniature ``../shared/data/nlu`` in the real formats (made-up queries, real layout)."""
    root = tmp_path / "data" / "nlu"
    (root / "smp2017").mkdir(parents=True)
    (root / "smp2019").mkdir()
    smp2017 = [("你好呀", "chat"), ("我想听稻香", "music"), ("北京天气", "weather"), ("讲个笑话吧", "chat"),
               ("播放晴天", "music"), ("上海下雨吗", "weather")]
    lines = [json.dumps({"query": q, "label": lab}, ensure_ascii=False) for q, lab in smp2017]
    (root / "smp2017" / "train.jsonl").write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    (root / "smp2017" / "develop.jsonl").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    smp2019 = [{"text": f"{verb}{song}", "domain": "music", "intent": intent, "slots": {"song": song}}
               for verb, intent in (("播放", "PLAY"), ("搜索", "SEARCH")) for song in ("稻香", "晴天", "七里香")]
    (root / "smp2019" / "train.json").write_text(json.dumps(smp2019 * 3, ensure_ascii=False), encoding="utf-8")
    return tmp_path / "data"


def tiny_train_overrides(data: Path, tmp_path: Path) -> list[str]:
    """Tiny model, a few steps, every output under ``tmp_path`` (never the shipped checkpoint)."""
    lexicon = DATA / "lexicons" / "minimusic"
    return [f"data.dir={data}", "data.dev_percent=50", f"output_dir={tmp_path / 'out'}",
            f"work_dir={tmp_path / 'work'}", f"dev_dir={tmp_path / 'dev'}", "lexicons=[]",
            f"lexicons.extra_dirs=[{lexicon}]", "model.head.slot_dim=8", "model.head.attn_dim=16",
            "model.head.attn_heads=2", "model.head.context_heads=2", "model.head.ngram_buckets=101",
            "model.head.ngram_dim=8", "trainer.max_steps=4", "trainer.per_device_train_batch_size=8",
            "trainer.cpu_bf16=false", "trainer.logging_steps=1"]
