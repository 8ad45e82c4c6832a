"""Labelled queries: SMP2017 (``{"query", "label"}`` JSONL, the label is a domain) and SMP2019 (a JSON array of
``{"text", "domain", "intent", "slots"}``, the label is ``domain/intent``), and the dev splits duihua trains with.

Dev splits: SMP2017 ``develop.jsonl`` as a whole; ``dev_percent`` of SMP2019 by CRC32 of the text (identical
texts fall on the same side). Training examples whose text occurs in any dev set are dropped, because the
two datasets share everyday requests (打开qq) and a shared text would leak a dev answer into training.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from models.common.jsonl import read_jsonl

Format = Literal["smp2017", "smp2019"]
SMP2017_TRAIN = "nlu/smp2017/train.jsonl"
SMP2017_DEV = "nlu/smp2017/develop.jsonl"
SMP2019_TRAIN = "nlu/smp2019/train.json"
INTENT_SEP = "/"
# the SMP2019 share held out as dev; the lexicon build leaves these texts' slot values out of the gazetteer
SMP2019_DEV_PERCENT = 20.0


@dataclass(frozen=True)
class IntentExample:
    text: str
    domain: str
    intent: str | None = None   # the bare intent (PLAY); ``label`` joins it to the domain
    slots: dict[str, str] | None = field(default=None, compare=False)   # SMP2019 annotation, kept for dev files

    @property
    def label(self) -> str:
        """What this example's dataset scores: ``domain`` (SMP2017) or ``domain/intent`` (SMP2019)."""
        return self.domain if self.intent is None else f"{self.domain}{INTENT_SEP}{self.intent}"


class DataFormatError(ValueError):
    """A labelled file that is neither SMP2017 JSONL nor an SMP2019 JSON array; the message names the line."""


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(f"{where}: text must be a non-empty string, got {value!r}")
    return value.strip()


def read_smp2017(path: Path) -> list[IntentExample]:
    out = []
    for where, rec in read_jsonl(path, DataFormatError):
        if not isinstance(rec, dict) or "query" not in rec or "label" not in rec:
            raise DataFormatError(f'{where}: expected {{"query": ..., "label": ...}}')
        out.append(IntentExample(_text(rec["query"], where), _text(rec["label"], where)))
    return out


def read_smp2019(path: Path) -> list[IntentExample]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(records, list):
        raise DataFormatError(f"{path}: expected a JSON array of {{\"text\", \"domain\", \"intent\"}} objects")
    out = []
    for i, rec in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict) or not {"text", "domain", "intent"} <= set(rec):
            raise DataFormatError(f'{where}: expected {{"text", "domain", "intent", "slots"}}')
        intent = rec["intent"]
        slots = rec.get("slots") if isinstance(rec.get("slots"), dict) else None
        out.append(IntentExample(_text(rec["text"], where), _text(rec["domain"], where),
                                 None if intent in (None, "") else _text(intent, where), slots))
    return out


def read_labelled(path: Path) -> tuple[list[IntentExample], Format]:
    """Either format, told apart by content: a file starting with ``[`` is an SMP2019 array."""
    path = Path(path)
    head = path.read_text(encoding="utf-8").lstrip()[:1]
    if head == "[":
        examples, fmt = read_smp2019(path), "smp2019"
    else:
        examples, fmt = read_smp2017(path), "smp2017"
    if not examples:
        raise DataFormatError(f"{path}: no labelled examples")
    return examples, fmt


def is_dev(text: str, dev_percent: float) -> bool:
    return zlib.crc32(text.encode("utf-8")) % 10000 < dev_percent * 100


def missing_files(data_dir: str | Path) -> list[str]:
    return [f for f in (SMP2017_TRAIN, SMP2017_DEV, SMP2019_TRAIN) if not (Path(data_dir) / f).is_file()]


def load_splits(data_dir: str | Path, dev_percent: float) -> tuple[dict[Format, list[IntentExample]],
                                                                   dict[Format, list[IntentExample]]]:
    """``(train, dev)``, each ``{"smp2017": [...], "smp2019": [...]}``; see the module docstring."""
    root = Path(data_dir)
    smp2019 = read_smp2019(root / SMP2019_TRAIN)
    dev = {"smp2017": read_smp2017(root / SMP2017_DEV),
           "smp2019": [x for x in smp2019 if is_dev(x.text, dev_percent)]}
    held = {x.text for xs in dev.values() for x in xs}
    train = {"smp2017": [x for x in read_smp2017(root / SMP2017_TRAIN) if x.text not in held],
             "smp2019": [x for x in smp2019 if x.text not in held]}
    return train, dev


def flatten(groups: dict[Format, list[IntentExample]], order: Sequence[Format] = ("smp2017", "smp2019")
            ) -> list[IntentExample]:
    return [x for name in order for x in groups.get(name, [])]
