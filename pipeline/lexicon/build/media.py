"""media domain: titles and names of what SMP2019 users ask to watch, read or follow; see :func:`build_media`."""

from __future__ import annotations

from pipeline.lexicon.build.filters import RELIABLE
from pipeline.lexicon.build.sources import LICENSE_SMP2019, BuildContext
from pipeline.lexicon.build.writer import DomainSpec, SlotBuilder, slot_spec

#: slot type -> (description, [(SMP2019 domain, slot name)]) - annotated values only
MEDIA_SLOTS = {
    "video": ("film, TV series and programme titles", [("video", "name"), ("epg", "name")]),
    "poem": ("poem titles", [("poetry", "name")]),
    "poet": ("poets", [("poetry", "author")]),
    "novel": ("novel titles", [("novel", "name")]),
    "novelist": ("novelists", [("novel", "author")]),
    "stock": ("listed companies and stock names", [("stock", "name")]),
    "radio_station": ("radio stations", [("radio", "name")]),
    "lottery": ("lottery games", [("lottery", "name")]),
}


def build_media(ctx: BuildContext) -> DomainSpec:
    """One slot type per entry of :data:`MEDIA_SLOTS`, from SMP2019 train.json slot values outside the intent
    dev split. Annotated values, so only the general character/stopword rules apply."""
    specs = []
    for slot, (description, sources) in MEDIA_SLOTS.items():
        builder = SlotBuilder(ctx, "media", slot, RELIABLE)
        for domain, name in sources:
            builder.add(ctx.smp2019_slots([domain], [name]), reliable=True)
        specs.append(slot_spec(builder, 60, description))
    used = "; ".join(f"{d} {n}" for _, srcs in MEDIA_SLOTS.values() for d, n in srcs)
    return DomainSpec("media", "Video, poem, novel, stock, radio and lottery names named in SMP2019 requests.",
                      f"nlu/smp2019/train.json ({used}), outside the intent dev split", LICENSE_SMP2019, specs)
