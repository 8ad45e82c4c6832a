"""Slot-annotated requests: SMP2019 (``slots: {name: surface}``) and CrossWOZ user turns, with their dev splits.

Spans: a gold surface is located at its first occurrence in the text, exactly as ``duihua eval slots`` scores
it, so a model learns the spans it is measured on. Where two gold spans overlap, the longer one is kept (BIO
has one tag per character).

Slot schema: each dataset's own types are kept, CrossWOZ ones written ``<domain>-<slot>`` (景点-名称), which
is the eval format. They are not mapped onto one taxonomy: the two datasets annotate different things
(SMP2019 ``name`` is an app, a video or a contact by domain), a mapping would lose that, and a user who
trains on their own data gets their own names back. The gazetteer's types are features, not labels.

Dev splits: SMP2019 by CRC32 of the text with the intent trainer's share (``models.intent.data``), so the
slot and intent models hold out the same requests and the lexicon build leaves their values out; CrossWOZ by
CRC32 of the dialogue id (turns of one dialogue share entities, so they must fall on one side).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from models.common.jsonl import read_jsonl
from models.intent.data import SMP2019_DEV_PERCENT, SMP2019_TRAIN, DataFormatError, is_dev, read_smp2019

CROSSWOZ_VAL = "nlu/crosswoz/nlu_val.jsonl"
Span = tuple[int, int, str]   # start, end (exclusive), slot type


@dataclass(frozen=True)
class SlotExample:
    text: str
    spans: tuple[Span, ...]
    dataset: str = ""
    domain: str | None = None    # SMP domain label, for the joint model's domain head (None: unlabelled)
    intent: str | None = None    # SMP2019 ``domain/intent`` label, for its intent head
    tagged: bool = True          # False: the text's slots are not annotated (SMP2017), no slot loss

    def record(self) -> dict:
        """The ``duihua eval slots`` record: ``{"text", "slots": {name: surface or [surfaces]}}``."""
        slots: dict[str, list[str]] = {}
        for start, end, name in self.spans:
            slots.setdefault(name, []).append(self.text[start:end])
        return {"text": self.text, "slots": {k: v[0] if len(v) == 1 else v for k, v in slots.items()}}


def locate(text: str, slots: Mapping[str, object]) -> tuple[Span, ...]:
    """Gold spans at first occurrence, longest first where they overlap; surfaces not in the text are dropped."""
    found = []
    for name, surface in slots.items():
        for value in surface if isinstance(surface, list) else [surface]:
            value = str(value) if value is not None else ""
            start = text.find(value) if value else -1
            if start >= 0:
                found.append((start, start + len(value), str(name)))
    kept: list[Span] = []
    for span in sorted(found, key=lambda s: (s[0] - s[1], s[0])):
        if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
            kept.append(span)
    return tuple(sorted(kept))


def crosswoz_user_turns(path: Path) -> list[tuple[str, str, dict[str, list[str]]]]:
    """``(dialog_id, turn text, {"<domain>-<slot>": [values]})`` for each user turn, ``Inform`` values that
    occur in the turn only (CrossWOZ values are not span-annotated)."""
    out = []
    for _, rec in read_jsonl(path, DataFormatError):
        if rec.get("role") != "usr" or not str(rec.get("content", "")).strip():
            continue
        text = rec["content"]
        slots: dict[str, list[str]] = {}
        for act in rec.get("dialog_act") or []:
            if len(act) == 4 and act[0] == "Inform" and act[3] and act[3] in text:
                slots.setdefault(f"{act[1]}-{act[2]}", []).append(act[3])
        out.append((str(rec.get("dialog_id")), text, slots))
    return out


def crosswoz_is_dev(dialog_id: str, dev_percent: float) -> bool:
    return zlib.crc32(f"crosswoz:{dialog_id}".encode()) % 10000 < dev_percent * 100


Splits = dict[str, list[SlotExample]]


def load_splits(data_dir: str | Path, datasets: Iterable[str] = ("smp2019", "crosswoz"),
                crosswoz_dev_percent: float = 20.0) -> tuple[Splits, Splits]:
    """``(train, dev)`` per dataset name; see the module docstring for the splits."""
    root = Path(data_dir)
    train: dict[str, list[SlotExample]] = {}
    dev: dict[str, list[SlotExample]] = {}
    datasets = list(datasets)
    if "smp2019" in datasets:
        rows = read_smp2019(root / SMP2019_TRAIN)
        examples = [(is_dev(x.text, SMP2019_DEV_PERCENT),
                     SlotExample(x.text, locate(x.text, x.slots or {}), "smp2019", x.domain, x.label)) for x in rows]
        dev["smp2019"] = [x for held, x in examples if held]
        held_texts = {x.text for x in dev["smp2019"]}
        train["smp2019"] = [x for held, x in examples if not held and x.text not in held_texts]
    if "crosswoz" in datasets:
        turns = crosswoz_user_turns(root / CROSSWOZ_VAL)
        dev["crosswoz"] = [SlotExample(t, locate(t, s), "crosswoz") for d, t, s in turns
                           if crosswoz_is_dev(d, crosswoz_dev_percent)]
        train["crosswoz"] = [SlotExample(t, locate(t, s), "crosswoz") for d, t, s in turns
                             if not crosswoz_is_dev(d, crosswoz_dev_percent)]
    unknown = sorted(set(datasets) - {"smp2019", "crosswoz"})
    if unknown:
        raise DataFormatError(f"data.datasets: unknown {unknown}; known: smp2019, crosswoz")
    return train, dev


def load_smp2017(data_dir: str | Path) -> tuple[list[SlotExample], list[SlotExample]]:
    """SMP2017 domains (no slot annotation) for the joint model, with the intent trainer's split and
    de-duplication against every dev text (``models.intent.data.load_splits``)."""
    from models.intent.data import load_splits as intent_splits

    train, dev = intent_splits(data_dir, SMP2019_DEV_PERCENT)

    def convert(xs: Sequence) -> list[SlotExample]:
        return [SlotExample(x.text, (), "smp2017", x.domain, None, tagged=False) for x in xs]

    return convert(train["smp2017"]), convert(dev["smp2017"])


def missing_files(data_dir: str | Path, datasets: Sequence[str]) -> list[str]:
    need = {"smp2019": SMP2019_TRAIN, "crosswoz": CROSSWOZ_VAL}
    return [need[d] for d in datasets if d in need and not (Path(data_dir) / need[d]).is_file()]


def write_dev_sets(dev: Mapping[str, Sequence[SlotExample]], folder: Path) -> None:
    """Each dev split as a ``duihua eval slots`` JSONL file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, examples in dev.items():
        lines = [json.dumps(x.record(), ensure_ascii=False) for x in examples]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
