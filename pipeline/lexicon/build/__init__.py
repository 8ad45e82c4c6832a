"""Rebuild the shipped gazetteer lexicons (``lexicons/<domain>/``) from the raw data in ``../shared/data``.

Every shipped domain has one builder function in a module of its own (``build_music`` in :mod:`.music`,
``build_location`` in :mod:`.location`, then :mod:`.travel`, :mod:`.food`, :mod:`.app`, :mod:`.media`, and
:mod:`.thuocl` for health, car, animal and person). Each one reads its sources through a
:class:`~.sources.BuildContext`, feeds candidate surfaces into :class:`~.writer.SlotBuilder` objects and
returns a :class:`~.writer.DomainSpec`; :func:`build_lexicons` then writes the folders (``lexicon.yaml`` +
sorted, de-duplicated entry files) and reloads each one with :func:`models.lexicon.manifest.load_domain` as
a self-check.

Filtering happens in two places and every dropped candidate is counted under the name of the rule that
dropped it (see :class:`~.writer.BuildReport`, printed by ``python -m pipeline.lexicon.build``):

* the general rules in :meth:`~.writer.SlotBuilder.rejection` (single characters, odd characters, stopwords,
  numerals, common words, phrases frequent in everyday chat, everyday phrases), applied to every slot
  according to its :class:`~.filters.Policy` after whitespace is stripped (rules and constants: :mod:`.filters`);
* source-specific rules inside the domain builders (town-level place names, THUOCL document frequency,
  railway stations that are ordinary words, ...), recorded with :meth:`~.writer.SlotBuilder.drop`.

"Common word" is measured with the frequency table of jieba's bundled dictionary (``jieba.dt.FREQ`` after
``jieba.initialize()``, jieba 0.42.1) and its POS tags; "frequent in chat" with the LCCC and subtitle
dialogues under data/chat. The output is deterministic: no randomness, sorted lines, and the same data and
jieba dictionary give byte-identical lexicons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from pipeline.errors import LexiconError
from pipeline.lexicon.build.app import build_app
from pipeline.lexicon.build.filters import WordStats
from pipeline.lexicon.build.food import build_food
from pipeline.lexicon.build.location import build_location
from pipeline.lexicon.build.media import build_media
from pipeline.lexicon.build.music import build_music
from pipeline.lexicon.build.sources import BuildContext, check_sources
from pipeline.lexicon.build.thuocl import build_animal, build_car, build_health, build_person
from pipeline.lexicon.build.travel import build_travel
from pipeline.lexicon.build.writer import BuildReport, DomainSpec, write_domain

__all__ = ["BUILDERS", "SHIPPED_DOMAINS", "build_lexicons", "build_specs", "run_build"]

log = logging.getLogger(__name__)

#: Domain builders in build order. location runs before travel (railway stations use its place names).
BUILDERS: dict[str, Callable[[BuildContext], DomainSpec]] = {
    "music": build_music,
    "location": build_location,
    "travel": lambda ctx: build_travel(ctx, ctx.place_names),
    "food": build_food,
    "app": build_app,
    "health": build_health,
    "car": build_car,
    "animal": build_animal,
    "media": build_media,
    "person": build_person,
}

#: Domains that ``build_lexicons`` (``duihua lexicon build``) writes: the ones conf/lexicons/ can select.
#: ``person`` is built on request only (``python -m pipeline.lexicon.build --domains person``).
SHIPPED_DOMAINS = ("music", "location", "travel", "food", "app", "health", "car", "animal", "media")


def build_specs(ctx: BuildContext, names: Sequence[str] = SHIPPED_DOMAINS, progress: bool = True) -> list[DomainSpec]:
    """Build the named domains in memory (nothing is written here)."""
    unknown = sorted(set(names) - BUILDERS.keys())
    if unknown:
        raise LexiconError(f"unknown lexicon domain(s) {unknown}; known: {sorted(BUILDERS)}")
    wanted = [n for n in BUILDERS if n in names]
    if "travel" in wanted and "location" not in wanted:
        build_location(ctx)  # travel needs ctx.place_names; the location spec itself is not written
    specs: list[DomainSpec] = []
    for name in tqdm(wanted, desc="lexicons", unit="domain", disable=not progress):
        log.debug("building %s", name)
        specs.append(BUILDERS[name](ctx))
    return specs


def run_build(
    data_dir: Path, out_dir: Path, progress: bool = True, names: Sequence[str] = SHIPPED_DOMAINS
) -> BuildReport:
    """Check sources, build the named domains, write them under ``out_dir``; return the full report."""
    start = time.perf_counter()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    check_sources(data_dir)
    report = BuildReport()
    ctx = BuildContext(data_dir, WordStats(), report)
    specs = build_specs(ctx, names, progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        report.counts[spec.name] = write_domain(spec, out_dir)
    report.seconds = time.perf_counter() - start
    return report


def build_lexicons(data_dir: Path, out_dir: Path, progress: bool = True) -> dict[str, dict[str, int]]:
    """Rebuild every shipped domain under out_dir from data_dir; returns {domain: {slot_type: entry_count}}.

    Raises :class:`~pipeline.errors.LexiconError` naming the file when a source file is missing (checked
    before anything is written). Shipped domain folders are replaced wholesale; other folders and files in
    ``out_dir`` (README.md, user domains) are left alone.
    """
    return run_build(data_dir, out_dir, progress).counts
