"""music domain: singers (with hand-written nicknames) and song titles; see :func:`build_music`."""

from __future__ import annotations

import dataclasses
import re

from pipeline.lexicon.build.filters import CHAT_MAX_COUNT, COMMON_WORD_FREQ, NOISY, Policy, clean, long_name
from pipeline.lexicon.build.sources import LICENSE_MUSIC, LICENSE_SMP2019, MUSIC_DIR, BuildContext
from pipeline.lexicon.build.writer import DomainSpec, SlotBuilder, slot_spec

#: Hand-written (not from any data file): well-known nicknames of singers in artists.txt. Written to
#: ``music/singer_nicknames.txt`` and marked hand-written in the manifest and README.
SINGER_NICKNAMES = {
    "周董": "周杰伦",
    "杰伦": "周杰伦",
    "Jay": "周杰伦",
    "Jay Chou": "周杰伦",
    "华仔": "刘德华",
    "歌神": "张学友",
    "Eason": "陈奕迅",
    "JJ": "林俊杰",
    "力宏": "王力宏",
    "燕姿": "孙燕姿",
    "Jolin": "蔡依林",
    "菲姐": "王菲",
    "春春": "李宇春",
    "老薛": "薛之谦",
    "千玺": "易烊千玺",
    "Vae": "许嵩",
    "紫棋": "邓紫棋",
    "小宇宙": "陈小春",
}

RASA_MARK = re.compile(r"\[([^\]\n]+)\]\((artist|song_title)\)")


def build_music(ctx: BuildContext) -> DomainSpec:
    """singer: artists.txt + SMP2019 music/video ``artist`` + rasa ``[x](artist)`` marks + nicknames;
    song: song_titles.txt + SMP2019 music ``song`` + rasa ``[x](song_title)`` marks.

    artists.txt, SMP2019 music artists and the rasa marks are reliable. SMP2019 *video* artists are
    directors and hosts as well as singers, and include ordinary words (田园), so they get the common-word
    rule (3+ character names are exempt: a famous name is frequent because it is famous). Song titles are
    the noisiest source here: a quarter of them are ordinary words (十年, 倒数, 明天, 朋友) or everyday
    phrases (我想, 你是谁, 这首歌), so every song source gets the noisy policy -- an annotated title like 老婆
    or 公路 is still a common word and would fire in 给老婆打电话. Titles that are also singer names are
    dropped from song (``song_is_singer``).
    """
    singer = SlotBuilder(ctx, "music", "singer", Policy(common_freq=COMMON_WORD_FREQ, common_ok=long_name))
    song_policy = dataclasses.replace(NOISY, short_phrases=True, chat_max=CHAT_MAX_COUNT)
    song = SlotBuilder(ctx, "music", "song", song_policy)

    rasa_text = ctx.path(f"{MUSIC_DIR}/rasa_nlu_examples.yml").read_text(encoding="utf-8")
    marks = RASA_MARK.findall(rasa_text)
    singer.add(ctx.lines(f"{MUSIC_DIR}/artists.txt"), reliable=True)
    singer.add(ctx.smp2019_slots(["music"], ["artist"]), reliable=True)
    singer.add(ctx.smp2019_slots(["video"], ["artist"]), reliable=False)
    singer.add((text for text, kind in marks if kind == "artist"), reliable=True)
    singers = singer.finalize()
    for nick, name in SINGER_NICKNAMES.items():
        if name in singers:
            singer.add_alias(nick, name)

    titles = ctx.lines(f"{MUSIC_DIR}/song_titles.txt")
    titles += ctx.smp2019_slots(["music"], ["song"])
    titles += [text for text, kind in marks if kind == "song_title"]
    for title in titles:
        if clean(title) in singers:
            song.drop("song_is_singer", title)
    song.add(titles, reliable=False)

    singer_spec = slot_spec(
        singer, 100, "singers and other artists (SMP2019 video artists include directors and hosts)"
    )
    # the only singer aliases are the hand-written nicknames: give their file a name that says so
    singer_spec.files["singer_nicknames.txt"] = singer_spec.files.pop("singer_aliases.txt", [])
    singer_spec.description += "; singer_nicknames.txt is HAND-WRITTEN (nickname<TAB>singer)"
    return DomainSpec(
        "music",
        "Singers and song titles for music requests (我想听周杰伦的稻香).",
        "entities/music/{artists.txt,song_titles.txt,rasa_nlu_examples.yml}; nlu/smp2019/train.json "
        "(music/video artist, music song); singer_nicknames.txt hand-written",
        f"{LICENSE_MUSIC}; {LICENSE_SMP2019}",
        [singer_spec, slot_spec(song, 50, "song titles, ordinary words and everyday phrases removed")],
    )
