"""Segmentation training data from ``../shared/data/cws``: a fine (PKU) and a coarse (MSR-like) view.

Sources, each yielding ``(doc_id, words)`` for one sentence:

* ``pku_fine``   — People's Daily 1998 January + February, PKU standard (``pd19980{1,2}_seg.txt``).
* ``pku_coarse`` — the same January sentences re-segmented to MSR conventions from the POS file
  (``pd199801_pos.txt.gz``) by the rules in ``COARSE_RULES`` (each can be switched off in config).
* ``msr``        — the real MSR-standard slice (``msr-slice/msr_train_slice.txt``).

Dev splits are held out by document and never change: January documents (``19980101-01-001`` = date, page,
article) whose CRC32 falls in ``dev_percent`` go to dev in *both* PKU views, so no dev sentence is trained on at
either granularity; February has no document ids and is all training data; the MSR slice has no ids either,
so its last ``msr_dev_lines`` lines (a contiguous block of articles) are its dev set.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

Sentence = list[str]
TaggedWord = tuple[str, str, int]  # (word, POS, bracket group id or -1)
Tagged = list[TaggedWord]

PKU_FINE_FILES = ("cws/pku1998/pd199801_seg.txt", "cws/pku1998/pd199802_seg.txt")
PKU_POS_FILE = "cws/pku1998/pd199801_pos.txt.gz"
MSR_FILE = "cws/msr-slice/msr_train_slice.txt"

_NUMERAL = re.compile(r"^[0-9０-９一二三四五六七八九十百千万亿零〇两几多余数.．点]+")
_DATE_UNITS = "年月日时点分秒号"
_DATE_PART = re.compile(rf"^[0-9０-９一二三四五六七八九十〇零]+[{_DATE_UNITS}]$")


def is_dev_doc(doc_id: str, dev_percent: float) -> bool:
    return zlib.crc32(doc_id.encode("utf-8")) % 10000 < dev_percent * 100


# ---------------------------------------------------------------- coarse-view rules (PKU POS -> MSR style)

def parse_pos_line(line: str) -> tuple[str, Tagged]:
    """``19980101-01-001-006/m 在/p [中央/n 人民/n]nt ...`` -> (``19980101-01-001``, tagged words)."""
    tokens = line.split()
    sent_id = tokens[0].split("/")[0]
    doc_id = sent_id.rsplit("-", 1)[0]
    tagged: Tagged = []
    group, next_group = -1, 0
    for tok in tokens[1:]:
        opens = tok.startswith("[")
        if opens:
            tok, group, next_group = tok[1:], next_group, next_group + 1
        closes = "]" in tok and not tok.endswith("]")  # 电台/n]nt
        if closes:
            tok = tok[: tok.rindex("]")]
        word, _, pos = tok.rpartition("/")
        tagged.append((word, pos, group))
        if closes:
            group = -1
    return doc_id, tagged


def _merge_adjacent(tagged: Tagged, join: Callable[[TaggedWord, TaggedWord], tuple[str, int] | None]) -> Tagged:
    """One left-to-right pass shared by the rules: where ``join(previous, current)`` returns ``(pos, group)``,
    the current word is appended to the previous output word, which takes that POS and group; merged words
    can keep growing (五十/m 万/m 元/q -> 五十万元)."""
    out: Tagged = []
    for cur in tagged:
        merged = join(out[-1], cur) if out else None
        if merged is None:
            out.append(cur)
        else:
            out[-1] = (out[-1][0] + cur[0], *merged)
    return out


def merge_compounds(tagged: Tagged) -> Tagged:
    """[中央/n 人民/n 广播/vn 电台/n]nt -> 中央人民广播电台 (MSR keeps organisations and places whole)."""
    def join(prev: TaggedWord, cur: TaggedWord) -> tuple[str, int] | None:
        return ("nt", cur[2]) if cur[2] >= 0 and prev[2] == cur[2] else None
    return _merge_adjacent(tagged, join)


def join_person_names(tagged: Tagged) -> Tagged:
    """江/nr 泽民/nr -> 江泽民: PKU splits surname and given name, MSR writes a name as one word."""
    def join(prev: TaggedWord, cur: TaggedWord) -> tuple[str, int] | None:
        both_names = cur[1] == "nr" and prev[1] == "nr"
        return ("nr", -1) if both_names and len(prev[0]) <= 2 and len(cur[0]) <= 2 else None
    return _merge_adjacent(tagged, join)


def merge_dates(tagged: Tagged) -> Tagged:
    """１２月/t ３１日/t -> １２月３１日: MSR keeps a date (or a clock time) as one word."""
    def join(prev: TaggedWord, cur: TaggedWord) -> tuple[str, int] | None:
        date_part = cur[1] == "t" and _DATE_PART.match(cur[0])
        return ("t", -1) if date_part and prev[1] == "t" and prev[0][-1] in _DATE_UNITS else None
    return _merge_adjacent(tagged, join)


def merge_number_units(tagged: Tagged) -> Tagged:
    """３/m 个/q -> ３个, 五十/m 万/m 元/q -> 五十万元: MSR writes a number with its measure word as one word."""
    def join(prev: TaggedWord, cur: TaggedWord) -> tuple[str, int] | None:
        numeral_next = cur[1] == "q" or (cur[1] == "m" and _NUMERAL.match(cur[0]))
        if prev[1] == "m" and _NUMERAL.match(prev[0]) and numeral_next:
            return ("m" if cur[1] == "m" else "mq", -1)
        return None
    return _merge_adjacent(tagged, join)


COARSE_RULES: dict[str, Callable[[Tagged], Tagged]] = {
    "compounds": merge_compounds,
    "person_names": join_person_names,
    "dates": merge_dates,
    "number_units": merge_number_units,
}


def coarse_view(tagged: Tagged, rules: Sequence[str]) -> Sentence:
    for name in rules:
        tagged = COARSE_RULES[name](tagged)
    return [w for w, _, _ in tagged]


# ---------------------------------------------------------------- readers

def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield line.rstrip("\n")


def pku_fine(data: Path) -> Iterator[tuple[str, Sentence]]:
    """January lines carry their document id from the aligned POS file; February lines get ``feb``."""
    jan_ids = [parse_pos_line(line)[0] for line in _lines(data / PKU_POS_FILE)]
    for i, line in enumerate(_lines(data / PKU_FINE_FILES[0])):
        yield jan_ids[i], line.split()
    for line in _lines(data / PKU_FINE_FILES[1]):
        yield "feb", line.split()


def pku_coarse(data: Path, rules: Sequence[str]) -> Iterator[tuple[str, Sentence]]:
    unknown = [r for r in rules if r not in COARSE_RULES]
    if unknown:
        raise ValueError(f"unknown coarse rules {unknown}; known: {sorted(COARSE_RULES)}")
    for line in _lines(data / PKU_POS_FILE):
        doc_id, tagged = parse_pos_line(line)
        if tagged:
            yield doc_id, coarse_view(tagged, rules)


def msr(data: Path, dev_lines: int) -> Iterator[tuple[str, Sentence]]:
    lines = list(_lines(data / MSR_FILE))
    for i, line in enumerate(lines):
        yield ("msr-dev" if i >= len(lines) - dev_lines else "msr"), line.split()


def split_source(items: Iterator[tuple[str, Sentence]], dev_percent: float
                 ) -> tuple[list[Sentence], list[Sentence]]:
    train, dev = [], []
    for doc_id, words in items:
        held = doc_id == "msr-dev" or (doc_id not in {"feb", "msr"} and is_dev_doc(doc_id, dev_percent))
        (dev if held else train).append(words)
    return train, dev


def load_views(data: str | Path, rules: Sequence[str], dev_percent: float = 5.0, msr_dev_lines: int = 870
               ) -> dict[str, tuple[list[Sentence], list[Sentence]]]:
    """``{source: (train, dev)}`` for ``pku_fine``, ``pku_coarse`` and ``msr``."""
    data = Path(data)
    return {
        "pku_fine": split_source(pku_fine(data), dev_percent),
        "pku_coarse": split_source(pku_coarse(data, rules), dev_percent),
        "msr": split_source(msr(data, msr_dev_lines), dev_percent),
    }


def write_sighan(sentences: Sequence[Sentence], path: Path) -> None:
    """Gold file in SIGHAN format (words separated by two spaces), the format ``duihua eval segment`` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("  ".join(s) + "\n" for s in sentences), encoding="utf-8")
