"""The build's source files and the shared state that reads them.

Source paths are relative to the data dir and listed with their licences as stated in data/PROVENANCE.md; they
stay together here (rather than next to the builder that reads them) because :data:`REQUIRED_SOURCES` checks
all of them before anything is written. :class:`BuildContext` reads the files and caches what several builders
share (the SMP2019 training data, the chat statistics, the location names that travel needs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from models.intent.data import SMP2019_DEV_PERCENT, is_dev
from pipeline.errors import LexiconError
from pipeline.lexicon.build.filters import ChatStats, WordStats
from pipeline.lexicon.build.writer import BuildReport

# --------------------------------------------------------------------------------------------------------------
# Sources (paths relative to the data dir) and their licences, as stated in data/PROVENANCE.md
# --------------------------------------------------------------------------------------------------------------

SMP2019_TRAIN = "nlu/smp2019/train.json"
SMP2019_DIC = "nlu/smp2019/dic"
CROSSWOZ_DB = "nlu/crosswoz/database"
MUSIC_DIR = "entities/music"
DISTRICTS = "entities/places/cn_districts.txt"
THUOCL_DIR = "entities/thuocl"

CHAT_SOURCES = (
    "chat/lccc-toy/train.tsv",
    *(f"chat/subtitles/{n}.conv" for n in ("fanzxl", "haosys", "juemds", "laoyj", "lost", "prisonb")),
)

LICENSE_SMP2019 = "SMP2019-ECDT (OnionWang/SMP2019-ECDT-NLU): not stated"
LICENSE_CROSSWOZ = "CrossWOZ (thu-coai/CrossWOZ): Apache-2.0"
LICENSE_MUSIC = "music lists (Chriszhangmw/medium_music_wiki_bot, LeeJiangWei/rasabot-zh): not stated"
LICENSE_PLACES = "cn_districts (entities/places): not stated"
LICENSE_THUOCL = "THUOCL (thunlp/THUOCL): MIT"


# --------------------------------------------------------------------------------------------------------------
# Reading sources
# --------------------------------------------------------------------------------------------------------------


@dataclass
class BuildContext:
    """Shared state of one build: data dir, jieba statistics, report, cached SMP2019 data."""

    data_dir: Path
    words: WordStats
    report: BuildReport
    place_names: set[str] = field(default_factory=set)  # filled by build_location, used by build_travel
    # SMP2019 texts in the intent dev split (models/intent/data.py) give no entries: otherwise the gazetteer
    # would know every dev entity and the intent model's dev scores would be too good to be true
    smp2019_holdout: float = SMP2019_DEV_PERCENT
    _smp2019: list[dict] | None = None
    _chat: ChatStats | None = None

    @property
    def chat(self) -> ChatStats:
        """Chat utterances: subtitle ``M`` lines and both sides of the LCCC pairs (spaces removed)."""
        if self._chat is None:
            texts: list[str] = []
            for rel in CHAT_SOURCES:
                for line in self.lines(rel):
                    if rel.endswith(".conv"):
                        if line.startswith("M "):
                            texts.append(line[2:].strip())
                    else:
                        texts.extend(part.replace(" ", "") for part in line.split("\t"))
            self._chat = ChatStats(texts)
        return self._chat

    def path(self, rel: str) -> Path:
        p = self.data_dir / rel
        if not p.is_file():
            raise LexiconError(f"lexicon source file missing: {p} (data dir {self.data_dir})")
        return p

    def lines(self, rel: str) -> list[str]:
        """Non-empty lines of a UTF-8 text file."""
        text = self.path(rel).read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line.strip()]

    def json(self, rel: str):
        try:
            return json.loads(self.path(rel).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise LexiconError(f"{self.data_dir / rel}: not valid JSON ({exc})") from exc

    def smp2019_slots(self, domains: Iterable[str] | None, slots: Iterable[str]) -> list[str]:
        """Slot values of SMP2019 train.json for the given domains (None: all) and slot names, outside the
        intent dev split."""
        if self._smp2019 is None:
            self._smp2019 = [ex for ex in self.json(SMP2019_TRAIN)
                             if not is_dev(str(ex.get("text", "")).strip(), self.smp2019_holdout)]
        wanted_domains = set(domains) if domains is not None else None
        wanted_slots = set(slots)
        return [
            value
            for ex in self._smp2019
            if wanted_domains is None or ex.get("domain") in wanted_domains
            for name, value in (ex.get("slots") or {}).items()
            if name in wanted_slots and isinstance(value, str)
        ]

    def thuocl(self, name: str) -> Iterator[tuple[str, int]]:
        """(word, document frequency) of ``THUOCL_<name>.txt``; a malformed count keeps its leading digits
        (two upstream lines read ``125472s`` / ``3?``); lines without any count are skipped."""
        for line in self.lines(f"{THUOCL_DIR}/THUOCL_{name}.txt"):
            word, _, count = line.partition("\t")
            digits = re.match(r"\s*(\d+)", count)
            if digits:
                yield word, int(digits.group(1))


REQUIRED_SOURCES = (
    SMP2019_TRAIN,
    *(f"{SMP2019_DIC}/{n}.txt" for n in ("city", "province", "railway_station", "dishName")),
    *(f"{CROSSWOZ_DB}/{n}_db.json" for n in ("attraction", "hotel", "restaurant", "metro")),
    *(f"{MUSIC_DIR}/{n}" for n in ("artists.txt", "song_titles.txt", "rasa_nlu_examples.yml")),
    DISTRICTS,
    *CHAT_SOURCES,
    *(f"{THUOCL_DIR}/THUOCL_{n}.txt" for n in ("food", "medical", "car", "animal", "lishimingren", "diming")),
)


def check_sources(data_dir: Path) -> None:
    """Fail before writing anything if a source file is missing (naming every missing file)."""
    if not data_dir.is_dir():
        raise LexiconError(f"data dir not found: {data_dir}")
    missing = [str(data_dir / rel) for rel in REQUIRED_SOURCES if not (data_dir / rel).is_file()]
    if missing:
        raise LexiconError("lexicon source file(s) missing: " + ", ".join(missing))
