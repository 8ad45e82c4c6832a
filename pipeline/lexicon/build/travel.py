"""travel domain: railway stations and the Beijing attractions, hotels, restaurants and metro stations of
CrossWOZ; see :func:`build_travel`."""

from __future__ import annotations

import re
from collections import defaultdict

from pipeline.lexicon.build.filters import COMMON_WORD_FREQ, RELIABLE, Policy, clean
from pipeline.lexicon.build.location import place_ok
from pipeline.lexicon.build.sources import CROSSWOZ_DB, LICENSE_CROSSWOZ, LICENSE_SMP2019, SMP2019_DIC, BuildContext
from pipeline.lexicon.build.writer import DomainSpec, SlotBuilder, slot_spec

BRACKET = re.compile(r"^(.+?)\s*[（(].*[)）]$")
METRO_EXIT = re.compile(r"^(.+?)地铁站.*$")


def build_travel(ctx: BuildContext, place_names: set[str]) -> DomainSpec:
    """railway_station (SMP2019 dic), attraction/hotel/restaurant (CrossWOZ names), metro_station.

    Railway stations: many are city names (北京, 成都), which is fine, but some are ordinary words
    (建设, 高兴, 团结, 平安): a station name that is a common word, not a location name (``place_names``:
    every province/city/district surface and derived short form) and not a moderately frequent jieba place
    name (``place_ok``) is dropped
    (``station_common_word``). ``X站`` aliases point to ``X``.
    CrossWOZ names keep their brackets (北京全聚德(王府井店)): users in the CrossWOZ dialogues quote them
    verbatim, so the bracket characters are allowed for these slots. The name without the branch part is an
    alias of the full name when only one branch exists, and an entry of its own (a chain: 如家快捷酒店)
    otherwise. metro_db.json lists POIs with their nearest exit (灯市口地铁站A口): only the station part is
    kept, and ``X地铁站`` is an alias of ``X``.
    """
    station = SlotBuilder(ctx, "travel", "railway_station", RELIABLE)
    for name in ctx.lines(f"{SMP2019_DIC}/railway_station.txt"):
        name = clean(name)
        common = ctx.words.freq(name) > COMMON_WORD_FREQ and not place_ok(name, ctx.words)
        if common and name not in place_names:
            station.drop("station_common_word", name)
    station.add(ctx.lines(f"{SMP2019_DIC}/railway_station.txt"), reliable=True)
    for name in station.finalize():
        station.add_alias(name + "站", name)

    poi_policy = Policy(extra_chars="()（）“” .&'")
    slots = []
    for kind, label in (("attraction", "景点"), ("hotel", "酒店"), ("restaurant", "餐馆")):
        builder = SlotBuilder(ctx, "travel", kind, poi_policy)
        names = [clean(row[0]) for row in ctx.json(f"{CROSSWOZ_DB}/{kind}_db.json")]
        builder.add(names, reliable=True)
        bases: dict[str, list[str]] = defaultdict(list)
        for name in names:
            if m := BRACKET.match(name):
                bases[m.group(1)].append(name)
        for base, full in sorted(bases.items()):
            if len(full) == 1:
                builder.add_alias(base, full[0])
            else:
                builder.add([base], reliable=True)  # chain name
        slots.append((builder, f"Beijing {label} names from CrossWOZ; branch-less short names as aliases"))

    metro = SlotBuilder(ctx, "travel", "metro_station", RELIABLE)
    for _name, attrs in ctx.json(f"{CROSSWOZ_DB}/metro_db.json"):
        exit_name = (attrs or {}).get("地铁")
        if exit_name and (m := METRO_EXIT.match(exit_name)):
            metro.add([m.group(1)], reliable=True)
    for name in metro.finalize():
        metro.add_alias(name + "地铁站", name)

    return DomainSpec(
        "travel",
        "Railway stations (national) and Beijing attractions, hotels, restaurants and metro stations.",
        "nlu/smp2019/dic/railway_station.txt; nlu/crosswoz/database/{attraction,hotel,restaurant,metro}_db.json",
        f"{LICENSE_SMP2019} (railway_station); {LICENSE_CROSSWOZ} (the rest)",
        [
            slot_spec(station, 85, "railway station names; X站 aliases"),
            *(slot_spec(b, 80, desc) for b, desc in slots),
            slot_spec(metro, 75, "Beijing metro station names (from CrossWOZ metro_db exits); X地铁站 aliases"),
        ],
    )
