"""Chat data for the reply stage: (context turns, response) pairs from the shared chat corpora.

Sources (``../shared/data/chat``, see its PROVENANCE.md):

* ``lccc`` — ``lccc-toy/train.tsv`` single-turn pairs (Weibo), characters space-separated;
* ``multiturn`` — ``lccc-toy/multiturn.json`` ``train`` dialogues: every turn after the first is a response,
  the up to ``max_turns`` turns before it its context;
* ``chatterbot`` — consecutive turns of each ``conversations:`` list;
* ``subtitles`` — consecutive lines of each ``E``-delimited subtitle dialogue, filtered (``clean_subtitle``).

The dev split is the ``valid`` part of ``multiturn.json`` (never seen by pre-training either); pairs equal to a
dev pair are removed from training. The ``test`` part is left alone for independent scoring.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

SOURCES = ("lccc", "multiturn", "chatterbot", "subtitles")
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
SPACES = re.compile(r"\s+")


class ChatDataError(ValueError):
    """A chat data file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class ChatPair:
    context: tuple[str, ...]   # oldest turn first; the last one is the query
    response: str
    source: str = ""

    @property
    def query(self) -> str:
        return self.context[-1] if self.context else ""


def unspace(text: str) -> str:
    """LCCC stores characters space-separated; Chinese needs no spaces (Latin words lose theirs too, as in
    the tokenizer, which drops whitespace)."""
    return SPACES.sub("", text)


def read_tsv(path: str | Path) -> list[ChatPair]:
    """``query<TAB>response`` per line (spaces between characters are stripped). Blank lines are skipped;
    any other line without exactly one tab is an error naming the line."""
    path = Path(path)
    if not path.is_file():
        raise ChatDataError(f"file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ChatDataError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    pairs = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise ChatDataError(f"{path}:{lineno}: expected query<TAB>response, got {len(fields)} field(s)")
        query, response = unspace(fields[0]), unspace(fields[1])
        if not response:
            raise ChatDataError(f"{path}:{lineno}: empty response")
        pairs.append(ChatPair((query,) if query else (), response, path.stem))
    if not pairs:
        raise ChatDataError(f"{path}: no query<TAB>response lines")
    return pairs


def dialogue_pairs(turns: Sequence[str], max_turns: int, source: str) -> Iterator[ChatPair]:
    for i in range(1, len(turns)):
        if turns[i]:
            yield ChatPair(tuple(t for t in turns[max(0, i - max_turns) : i] if t), turns[i], source)


def clean_subtitle(line: str, max_chars: int) -> str | None:
    """One subtitle line as an utterance, or None when it is noise.

    Rules: spaces inside a line mark pauses between phrases and become "，"; lines with Latin letters are
    dropped (character names, credits, untranslated lines); so are lines without a Chinese character, lines
    shorter than 2 or longer than ``max_chars`` characters.
    """
    text = SPACES.sub("，", line.strip()).strip("，")
    if LATIN.search(text) or not CJK.search(text) or not 2 <= len(text) <= max_chars:
        return None
    return text


def subtitle_dialogues(path: Path, max_chars: int) -> Iterator[list[str]]:
    """Dialogues of a ``.conv`` file; a noisy line ends the run of turns (its neighbours are not a pair)."""
    turns: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("E"):
            if len(turns) > 1:
                yield turns
            turns = []
        elif raw.startswith("M"):
            text = clean_subtitle(raw[1:], max_chars)
            if text is None:
                if len(turns) > 1:
                    yield turns
                turns = []
            else:
                turns.append(text)
    if len(turns) > 1:
        yield turns


def load_source(data_dir: Path, source: str, max_turns: int, max_chars: int) -> list[ChatPair]:
    chat = data_dir / "chat"
    if source == "lccc":
        return [ChatPair(p.context, p.response, "lccc") for p in read_tsv(chat / "lccc-toy/train.tsv")]
    if source == "multiturn":
        dialogues = json.loads((chat / "lccc-toy/multiturn.json").read_text(encoding="utf-8"))["train"]
        return [p for d in dialogues for p in dialogue_pairs([unspace(t) for t in d], max_turns, "multiturn")]
    if source == "chatterbot":
        pairs = []
        for yml in sorted((chat / "chatterbot").glob("*.yml")):
            for conv in (yaml.safe_load(yml.read_text(encoding="utf-8")) or {}).get("conversations", []):
                turns = [str(t).strip() for t in conv if isinstance(t, str | int | float)]
                pairs.extend(dialogue_pairs(turns, max_turns, "chatterbot"))
        return pairs
    if source == "subtitles":
        return [p for conv in sorted((chat / "subtitles").glob("*.conv"))
                for d in subtitle_dialogues(conv, max_chars) for p in dialogue_pairs(d, max_turns, "subtitles")]
    raise ChatDataError(f"unknown chat source {source!r}; known: {SOURCES}")


def dev_pairs(data_dir: Path, max_turns: int) -> list[ChatPair]:
    """Held-out pairs: every response of the multi-turn ``valid`` dialogues with its context."""
    dialogues = json.loads((data_dir / "chat/lccc-toy/multiturn.json").read_text(encoding="utf-8"))["valid"]
    return [p for d in dialogues for p in dialogue_pairs([unspace(t) for t in d], max_turns, "dev")]


def missing_files(data_dir: Path, sources: Iterable[str]) -> list[str]:
    need = {"lccc": "chat/lccc-toy/train.tsv", "multiturn": "chat/lccc-toy/multiturn.json",
            "chatterbot": "chat/chatterbot", "subtitles": "chat/subtitles"}
    return [need[s] for s in {*sources, "multiturn"} if s in need and not (data_dir / need[s]).exists()]


def training_mix(pools: dict[str, list[ChatPair]], weights: dict[str, float], caps: dict[str, int | None],
                 seed: int) -> list[ChatPair]:
    """One epoch of training pairs: each source capped (a seeded sample) and then repeated ``weight`` times
    (a fractional weight adds a seeded sample of that fraction), shuffled."""
    rng = random.Random(seed)
    mix: list[ChatPair] = []
    for name, pairs in pools.items():
        weight = float(weights.get(name, 1.0))
        cap = caps.get(name)
        if cap and len(pairs) > cap:
            pairs = rng.sample(pairs, cap)
        whole, frac = int(weight), weight - int(weight)
        mix.extend(pairs * whole)
        if frac:
            mix.extend(rng.sample(pairs, round(frac * len(pairs))))
    rng.shuffle(mix)
    return mix


def write_tsv(pairs: Iterable[ChatPair], path: Path) -> None:
    """Single-turn ``duihua eval reply`` file: last context turn, tab, response. A tab or line break inside a
    text becomes a space (``read_tsv`` drops spaces), so every pair stays one readable line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{_one_line(p.query)}\t{_one_line(p.response)}\n" for p in pairs), encoding="utf-8")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def load_sources(data_dir: Path, sources: Iterable[str], max_turns: int, max_chars: int) -> list[ChatPair]:
    """The pairs of ``sources``, in that order (``load_source``): what ``reply=retrieval`` reads and what the
    shipped retrieval pool is written from, so the two hold the same pairs."""
    return [pair for source in sources for pair in load_source(data_dir, source, max_turns, max_chars)]


POOL_FILE = "retrieval_pairs.tsv"


def write_pool(pairs: Sequence[ChatPair], path: Path) -> int:
    """``write_tsv`` of the pairs that can be retrieved (a query and a response): the retrieval pool shipped
    beside the response-selection model, so ``reply=rank`` answers without the shared corpora. Returns the
    number of lines written."""
    kept = [p for p in pairs if p.query and p.response.strip()]
    write_tsv(kept, path)
    return len(kept)
