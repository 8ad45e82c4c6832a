"""Where the splitter's training text comes from: sentences grouped by the dialogue or document they belong to.

Every source yields ``Group`` objects: an id (the unit the dev split is drawn by, so no dialogue or article
is on both sides) and a list of *blocks*, each a list of sentences in order. A block is what may be joined
without a gap: one CrossWOZ turn, one chat utterance, one news paragraph. Sentences are cut at sentence-final
punctuation (``。！？!?``), the same rule the held-out dialogue data follows; commas stay inside a sentence.

Sources (``../shared/data``, see its PROVENANCE.md):

* ``requests``: SMP2017 queries (``train.jsonl``; ``develop.jsonl`` is always dev) and SMP2019 texts, one
  request per group.
* ``dialogue``: CrossWOZ dialogues, a block per turn (user and system).
* ``chat``: LCCC pairs (query, response) and multi-turn dialogues, a block per utterance.
* ``news``: PKU 1998 January paragraphs, a paragraph per group (the file has no article ids).

The TV-subtitle corpus is left out on purpose: its lines are subtitle frames, not sentences (one sentence is
often spread over two lines), so its joins would teach wrong boundaries.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SMP2017 = ("nlu/smp2017/train.jsonl", "nlu/smp2017/develop.jsonl")
SMP2019 = "nlu/smp2019/train.json"
CROSSWOZ = "nlu/crosswoz/nlu_val.jsonl"
LCCC_PAIRS = "chat/lccc-toy/train.tsv"
LCCC_MULTI = "chat/lccc-toy/multiturn.json"
PKU_NEWS = "cws/pku1998/pd199801_seg.txt"
SOURCE_FILES = {"requests": [*SMP2017, SMP2019], "dialogue": [CROSSWOZ], "chat": [LCCC_PAIRS, LCCC_MULTI],
                "news": [PKU_NEWS]}
SOURCES = tuple(SOURCE_FILES)
_CLOSE = "”’」』）)"
# after a run of terminators, and after a closing quote/bracket that directly follows one (他说：“好。”|然后)
_SENTENCE_END = re.compile(rf"(?<=[。！？!?])(?![。！？!?{_CLOSE}])|(?<=[。！？!?][{_CLOSE}])(?![{_CLOSE}])")


@dataclass(frozen=True)
class Group:
    id: str
    blocks: list[list[str]]
    label: str = ""   # the request's domain where the source has one (same-domain runs draw on it)


def split_sentences(text: str) -> list[str]:
    """Cut after runs of ``。！？!?`` (closing quotes stay with their sentence); empty pieces are dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def is_dev(group_id: str, dev_percent: float) -> bool:
    """Stable across runs and machines (CRC32, not Python's salted ``hash``)."""
    return zlib.crc32(group_id.encode("utf-8")) % 10000 < dev_percent * 100


def _unspace(text: str) -> str:
    """LCCC text is space-tokenised per character; Latin words keep one space between them."""
    return re.sub(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])", "", text.strip())


def requests(data: Path) -> Iterator[tuple[Group, bool | None]]:
    """SMP requests; the second value forces the side (``True`` = dev) where the data fixes it."""
    for path, forced in ((SMP2017[0], None), (SMP2017[1], True)):
        for line in (data / path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                text = rec["query"].strip()
                yield Group(f"smp2017:{text}", [[text]], str(rec.get("label", ""))), forced
    for rec in json.loads((data / SMP2019).read_text(encoding="utf-8")):
        text = rec["text"].strip()
        yield Group(f"smp2019:{text}", [[text]], str(rec.get("domain", ""))), None


def dialogue(data: Path) -> Iterator[tuple[Group, bool | None]]:
    turns: dict[str, list[tuple[int, str]]] = {}
    for line in (data / CROSSWOZ).read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            turns.setdefault(str(rec["dialog_id"]), []).append((int(rec["turn"]), rec["content"]))
    for dialog_id, items in turns.items():
        blocks = [split_sentences(text) for _, text in sorted(items)]
        yield Group(f"crosswoz:{dialog_id}", [b for b in blocks if b]), None


def chat(data: Path) -> Iterator[tuple[Group, bool | None]]:
    for line in (data / LCCC_PAIRS).read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            blocks = [split_sentences(_unspace(p)) for p in parts]
            yield Group(f"lccc:{parts[0]}", [b for b in blocks if b]), None
    multi = json.loads((data / LCCC_MULTI).read_text(encoding="utf-8"))
    for part in ("train", "valid"):  # the toy test dialogues stay untouched
        for dialog in multi[part]:
            blocks = [split_sentences(_unspace(u)) for u in dialog]
            yield Group(f"lccc-multi:{dialog[0]}", [b for b in blocks if b]), None


def news(data: Path) -> Iterator[tuple[Group, bool | None]]:
    """One group per paragraph: the January file has no article separators or ids."""
    for line in (data / PKU_NEWS).read_text(encoding="utf-8").splitlines():
        sentences = split_sentences(line.replace(" ", ""))
        if sentences:
            yield Group(f"pku:{line}", [sentences]), None


LOADERS = {"requests": requests, "dialogue": dialogue, "chat": chat, "news": news}


def load_sources(data: str | Path, dev_percent: float) -> dict[str, tuple[list[Group], list[Group]]]:
    """``{source: (train groups, dev groups)}``; groups without text are dropped."""
    data = Path(data)
    out = {}
    for name, loader in LOADERS.items():
        train, dev = [], []
        for group, forced in loader(data):
            if not group.blocks:
                continue
            side = is_dev(group.id, dev_percent) if forced is None else forced
            (dev if side else train).append(group)
        out[name] = (train, dev)
    return out


def missing_files(data: str | Path) -> list[str]:
    return [f for files in SOURCE_FILES.values() for f in files if not (Path(data) / f).is_file()]
