"""app domain: mobile apps, websites and TV channels named in SMP2019 requests; see :func:`build_app`."""

from __future__ import annotations

from pipeline.lexicon.build.filters import RELIABLE
from pipeline.lexicon.build.sources import LICENSE_SMP2019, BuildContext
from pipeline.lexicon.build.writer import DomainSpec, SlotBuilder, slot_spec


def build_app(ctx: BuildContext) -> DomainSpec:
    """app (SMP2019 app ``name``), website (website ``name``), tv_channel (epg ``tvchannel``, tvchannel
    ``name``). Annotated values, so only the general character/stopword rules apply."""
    app = SlotBuilder(ctx, "app", "app", RELIABLE)
    app.add(ctx.smp2019_slots(["app"], ["name"]), reliable=True)
    website = SlotBuilder(ctx, "app", "website", RELIABLE)
    website.add(ctx.smp2019_slots(["website"], ["name"]), reliable=True)
    channel = SlotBuilder(ctx, "app", "tv_channel", RELIABLE)
    channel.add(ctx.smp2019_slots(["epg"], ["tvchannel"]), reliable=True)
    channel.add(ctx.smp2019_slots(["tvchannel"], ["name"]), reliable=True)
    return DomainSpec(
        "app",
        "Mobile apps, websites and TV channels named in SMP2019 requests.",
        "nlu/smp2019/train.json (app name, website name, epg tvchannel, tvchannel name)",
        LICENSE_SMP2019,
        [
            slot_spec(app, 80, "app names"),
            slot_spec(website, 80, "website names"),
            slot_spec(channel, 80, "TV channel names"),
        ],
    )
