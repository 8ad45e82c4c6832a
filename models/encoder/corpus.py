"""Pre-training text from ``../shared/data``, with the word boundaries whole-word masking needs.

Sources (``data.sources`` in ``conf/train/pretrain.yaml``):

* ``pku``  — People's Daily 1998 Jan+Feb, gold PKU-standard words (``cws/pku1998/pd19980{1,2}_seg.txt``)
* ``sxu``  — SIGHAN 2008 SXU news, gold SXU-standard words (``cws/sxu/train.txt``)
* ``nlu``  — SMP2017 train queries and SMP2019 texts, jieba words. SMP2017 ``develop.jsonl`` is left out:
  it is the dev set of the downstream check, and pre-training on it would leak.
* ``crosswoz`` — CrossWOZ validation turns, jieba words
* ``chat`` — LCCC pairs and multi-turn dialogues, chatterbot, TV subtitles, jieba words
* ``data.files`` — your own UTF-8 text files, one sentence per line: spaces mark gold word boundaries
  (PKU style); lines without spaces are segmented by jieba

Official test sets are not in ``../shared/data`` at all. Long lines are cut into ``max_chars`` pieces at word
boundaries rather than truncated, so no text is dropped silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import jieba
import yaml

jieba.setLogLevel(logging.WARNING)
SOURCES = ("pku", "sxu", "nlu", "crosswoz", "chat")
Example = tuple[str, list[str]]  # (source, words); the text is "".join(words)


def _gold_lines(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            words = line.split()
            if words:
                yield words


def _jieba_words(texts: Iterator[str], tok: jieba.Tokenizer) -> Iterator[list[str]]:
    for text in texts:
        words = [w for w in tok.lcut(text.strip()) if w.strip()]
        if words:
            yield words


def _nlu_texts(data: Path) -> Iterator[str]:
    for line in (data / "nlu/smp2017/train.jsonl").read_text(encoding="utf-8").splitlines():
        yield json.loads(line)["query"]
    for rec in json.loads((data / "nlu/smp2019/train.json").read_text(encoding="utf-8")):
        yield rec["text"]


def _crosswoz_texts(data: Path) -> Iterator[str]:
    for line in (data / "nlu/crosswoz/nlu_val.jsonl").read_text(encoding="utf-8").splitlines():
        yield json.loads(line)["content"]


def _chat_texts(data: Path) -> Iterator[str]:
    chat = data / "chat"
    for line in (chat / "lccc-toy/train.tsv").read_text(encoding="utf-8").splitlines():
        for side in line.split("\t"):
            yield side.replace(" ", "")
    for dialogue in json.loads((chat / "lccc-toy/multiturn.json").read_text(encoding="utf-8"))["train"]:
        for utt in dialogue:
            yield utt.replace(" ", "")
    for yml in sorted((chat / "chatterbot").glob("*.yml")):
        for conv in (yaml.safe_load(yml.read_text(encoding="utf-8")) or {}).get("conversations", []):
            for utt in conv:
                if isinstance(utt, str):
                    yield utt
    for conv in sorted((chat / "subtitles").glob("*.conv")):
        with conv.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("M "):
                    yield line[2:].strip()


def _pieces(words: list[str], max_chars: int) -> Iterator[list[str]]:
    piece: list[str] = []
    size = 0
    for word in words:
        word = word[:max_chars]
        if size + len(word) > max_chars and piece:
            yield piece
            piece, size = [], 0
        piece.append(word)
        size += len(word)
    if piece:
        yield piece


def _user_file(path: Path, tok: jieba.Tokenizer) -> Iterator[list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"data.files: not found: {path}")
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if " " in line:
                yield line.split()
            elif line:
                yield from _jieba_words(iter([line]), tok)


def iter_corpus(data: str | Path, sources: Sequence[str] = SOURCES, max_chars: int = 126,
                files: Sequence[str | Path] = ()) -> Iterator[Example]:
    data = Path(data)
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise ValueError(f"data.sources: unknown {unknown}; choose from {list(SOURCES)}")
    tok = jieba.Tokenizer()
    readers = {
        "pku": lambda: (w for f in ("pd199801_seg.txt", "pd199802_seg.txt")
                        for w in _gold_lines(data / "cws/pku1998" / f)),
        "sxu": lambda: _gold_lines(data / "cws/sxu/train.txt"),
        "nlu": lambda: _jieba_words(_nlu_texts(data), tok),
        "crosswoz": lambda: _jieba_words(_crosswoz_texts(data), tok),
        "chat": lambda: _jieba_words(_chat_texts(data), tok),
    }
    for source in sources:
        for words in readers[source]():
            for piece in _pieces(words, max_chars):
                yield source, piece
    for file in files:
        for words in _user_file(Path(file), tok):
            for piece in _pieces(words, max_chars):
                yield f"file:{Path(file).name}", piece
