"""The retrieval pool shipped beside the ranker: written in read_tsv's format, and what the default reads."""

from __future__ import annotations

from pathlib import Path

from models.reply.data import POOL_FILE, ChatPair, read_tsv, write_pool
from pipeline.config import load_config
from pipeline.resources import data_root


def test_a_written_pool_reads_back_as_the_same_pairs(tmp_path: Path) -> None:
    pairs = [ChatPair(("你好",), "你好呀"), ChatPair(("今天\t吃什么",), "吃火锅\n吧"), ChatPair((), "没有问题的回答")]
    assert write_pool(pairs, tmp_path / POOL_FILE) == 2   # a pair without a query cannot be retrieved
    back = read_tsv(tmp_path / POOL_FILE)
    assert [(p.query, p.response) for p in back] == [("你好", "你好呀"), ("今天吃什么", "吃火锅吧")]


def test_the_default_chat_retrieval_reads_the_shipped_pool_not_the_shared_corpora() -> None:
    retrieval = load_config("pipeline").reply.chat.retrieval
    assert list(retrieval.sources) == []
    (pool,) = [Path(f) for f in retrieval.files]
    assert pool == data_root() / "checkpoints" / "reply_ranker" / POOL_FILE
    assert len(read_tsv(pool)) > 10_000
