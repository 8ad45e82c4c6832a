"""Rebuild the shipped gazetteer lexicons (``lexicons/<domain>/``) from the raw data in ``../shared/data``.

Every shipped domain has one builder function below (``build_music``, ``build_location`` ...). Each one reads
its sources, feeds candidate surfaces into :class:`SlotBuilder` objects and returns a :class:`DomainSpec`;
:func:`build_lexicons` then writes the folders (``lexicon.yaml`` + sorted, de-duplicated entry files) and
reloads each one with :func:`pipeline.lexicon.manifest.load_domain` as a self-check.

Filtering happens in two places and every dropped candidate is counted under the name of the rule that
dropped it (see :class:`BuildReport`, printed by ``python -m pipeline.lexicon.build``):

* the general rules in :meth:`SlotBuilder.rejection` (single characters, odd characters, stopwords,
  numerals, common words, phrases frequent in everyday chat, everyday phrases), applied to every slot
  according to its :class:`Policy` after whitespace is stripped;
* source-specific rules inside the domain builders (town-level place names, THUOCL document frequency,
  railway stations that are ordinary words, ...), recorded with :meth:`SlotBuilder.drop`.

"Common word" is measured with the frequency table of jieba's bundled dictionary (``jieba.dt.FREQ`` after
``jieba.initialize()``, jieba 0.42.1) and its POS tags; "frequent in chat" with the LCCC and subtitle
dialogues under data/chat. The output is deterministic: no randomness, sorted lines, and the same data and
jieba dictionary give byte-identical lexicons.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from tqdm import tqdm

from pipeline.errors import LexiconError
from pipeline.lexicon.manifest import MANIFEST_NAME, LexiconManifest, load_domain
from pipeline.text import normalize

log = logging.getLogger(__name__)

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
# Filtering constants (each one is explained where it is used; the README lists what they removed)
# --------------------------------------------------------------------------------------------------------------

#: jieba dictionary frequency above which a string counts as an everyday word. Picked by inspecting the song
#: titles and THUOCL lists against jieba 0.42.1: titles that are plain words sit above it (倒数 173, 晴天 230,
#: 明天 3264, 十年 3649, 朋友 9200) while entity-like strings sit below (稻香 3, 夜曲 23, 青花瓷 51, 周杰伦 89).
COMMON_WORD_FREQ = 100

#: A place name tagged ns by jieba may be frequent (万州 106, 乌鲁木齐 435) -- up to this frequency. Above it
#: the everyday sense usually wins even for ns words (新建 1000, 江山 1224, 商城 1270, 中原 2825).
PLACE_NS_MAX_FREQ = 999

#: Chat-frequency rule (song titles): a title seen more than this many times in the ~277k everyday chat and
#: subtitle utterances of data/chat is an everyday phrase (晚安 246, 好朋友 44, 好久不见 37, 这首歌 36, 时差 12),
#: while real titles rarely occur there (稻香 2, 青花瓷 0, 吻别 5, 童话 10).
CHAT_MAX_COUNT = 10

#: Pieces used by the everyday-phrase rule: a jieba word at least this frequent (想 61904, 知道 42780 ...).
PHRASE_PIECE_FREQ = 1000

#: The everyday-phrase rule only looks at candidates this short: longer titles (外面的世界, 后来的我们) are
#: specific enough even when built from everyday words.
PHRASE_MAX_LEN = 4

#: Song titles only: up to this length any frequent single character counts as a piece too, so 2-3
#: character utterances around a function word (不懂, 等我, 疯了, 这首歌, 下雨了) are caught. At 4 characters
#: that would also remove titles such as 年少有为 or 擦肩而过, and for terms and names it would remove
#: 可卡因, 从化市 or 周恩来 (可/从/来 are function characters), so elsewhere pieces must be words.
PHRASE_SHORT_LEN = 3

#: Entries made only of Chinese numerals match inside numbers and phone numbers (三七 in 一三七, 九三).
NUMERAL = re.compile(r"[零〇一二三四五六七八九十百千万亿两]+")

#: Surfaces must consist of CJK ideographs, kana (秋刀鱼の味), Latin letters (accented ones included),
#: digits, middle dot or hyphen.
ALLOWED_CHARS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fffA-Za-z\u00c0-\u024f0-9·\-"

#: Invisible characters removed everywhere (a CrossWOZ restaurant name ends with U+200E).
INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff]")


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Function words and dialogue fillers that are never an entity, whatever the source says (the rasa music
#: examples mark 我们 and 你 as song titles, the THUOCL lists contain 之后 ...). Kept short on purpose: the
#: common-word rule catches the rest of the everyday vocabulary.
STOPWORDS = _wordset(
    """
    我们 你们 他们 她们 它们 咱们 自己 大家 别人 人家 我的 你的 他的 她的 什么 怎么 怎样 怎么样 为什么 为何 哪里
    哪儿 哪个 哪些 多少 几个 这个 那个 这些 那些 这样 那样 这里 那里 这儿 那儿 这么 那么 没有 不是 就是 还是 可以
    可能 应该 已经 因为 所以 但是 如果 虽然 然后 而且 或者 还有 只是 一下 一个 一些 一起 一样 一点 知道 觉得 喜欢
    谢谢 你好 再见 好的 是的 对的 不要 不会 不能 不想 不用 我想 我要 想要 帮我 给我 告诉我 请问 时候 东西 事情
    现在 今天 明天 昨天 后天 今年 明年 去年 早上 上午 中午 下午 晚上 今晚 刚才 以后 以前 之后 之前 最近 天气
    打开 播放 查询 搜索 结束 取消 返回 退出 一首 一下子 怎么办 好不好 行不行 是不是 有没有 能不能 会不会 可不可以
    the and you she he it is are to of in on for me my we his her this that ok hi
    """
)

#: Single-character function words (pronouns, particles, copula, negation, common verbs) for the
#: everyday-phrase rule: 我想 = 我 + 想, 你是谁 = 你 + 是 + 谁, 告诉我 = 告诉 + 我.
FUNCTION_CHARS = frozenset(
    "我你您他她它们的地得了着过是不没别在有要想会能可很都也就"
    "还又再把被给让对向从到去来这那哪谁啥么吗呢吧啊呀哦嘛说"
)

# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------


@dataclass
class BuildReport:
    """What one build produced and removed. ``drops[rule][(domain, slot)]`` counts distinct surfaces."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    drops: dict[str, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    dropped: dict[tuple[str, str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0

    def record(self, rule: str, domain: str, slot: str, surface: str) -> None:
        self.drops[rule][(domain, slot)] += 1
        self.dropped[(rule, domain, slot)].append(surface)

    def examples(self, rule: str, n: int = 8) -> list[str]:
        """The first ``n`` surfaces a rule dropped, over all slots (in build order)."""
        out: list[str] = []
        for (r, _, _), surfaces in self.dropped.items():
            if r == rule:
                out += surfaces[: n - len(out)]
        return out

    def rule_totals(self) -> dict[str, int]:
        return {rule: sum(c.values()) for rule, c in sorted(self.drops.items())}

    def markdown(self) -> str:
        """Tables for the README: entries per slot, then what each rule removed (with examples)."""
        lines = ["| domain | slot type | entries |", "|---|---|---|"]
        for domain, slots in self.counts.items():
            lines += [f"| {domain} | {slot} | {n:,} |" for slot, n in slots.items()]
        lines += ["", "| rule | dropped | where (domain/slot: n) | examples |", "|---|---|---|---|"]
        for rule, per_slot in sorted(self.drops.items()):
            where = ", ".join(f"{d}/{s}: {n}" for (d, s), n in sorted(per_slot.items()))
            examples = " ".join(self.examples(rule))
            lines.append(f"| `{rule}` | {sum(per_slot.values()):,} | {where} | {examples} |")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Word statistics (jieba)
# --------------------------------------------------------------------------------------------------------------


class WordStats:
    """Frequencies and POS tags of jieba's bundled dictionary, loaded once per build."""

    def __init__(self) -> None:
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        self._freq: dict[str, int] = jieba.dt.FREQ
        self._tags: dict[str, str] = jieba.posseg.dt.word_tag_tab

    def freq(self, word: str) -> int:
        return self._freq.get(word, 0)

    def tag(self, word: str) -> str:
        """jieba's POS tag for a dictionary word ('' if not in the dictionary): ns place, nr person ..."""
        return self._tags.get(word, "")

    def is_person_name(self, word: str) -> bool:
        return self.tag(word) in {"nr", "nrfg", "nrt"}

    def is_place_name(self, word: str) -> bool:
        return self.tag(word) == "ns"

    def is_everyday_phrase(self, word: str, short_pieces: bool = False) -> bool:
        """True when ``word`` splits into >= 2 everyday pieces, at least one a function word (我想, 你是谁).

        Pieces are function characters/stopwords or jieba words of >= 2 characters with frequency >=
        ``PHRASE_PIECE_FREQ`` (with ``short_pieces``, frequent single characters too, for candidates up to
        ``PHRASE_SHORT_LEN``); the word itself is not allowed as a piece. Only candidates up to
        ``PHRASE_MAX_LEN`` characters are tested.
        """
        n = len(word)
        if n < 2 or n > PHRASE_MAX_LEN:
            return False
        # reach[i] = set of flags "a function piece was used" for segmentations of word[:i]
        reach: list[set[bool]] = [set() for _ in range(n + 1)]
        reach[0].add(False)
        for i in range(n):
            if not reach[i]:
                continue
            for j in range(i + 1, n + 1):
                piece = word[i:j]
                if piece == word:
                    continue
                is_function = piece in FUNCTION_CHARS or piece in STOPWORDS
                min_len = 1 if short_pieces and n <= PHRASE_SHORT_LEN else 2
                if is_function or (len(piece) >= min_len and self.freq(piece) >= PHRASE_PIECE_FREQ):
                    reach[j].update(flag or is_function for flag in reach[i])
        return True in reach[n]


class ChatStats:
    """How often strings occur in everyday conversation: the LCCC sample and the TV-subtitle dialogues of
    data/chat (~277k utterances, 2.8M characters), counted as substrings with one Aho-Corasick pass."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._counts: dict[str, int] = {}

    def prepare(self, words: Iterable[str]) -> None:
        """Count every word not counted yet (one pass over the chat text for the whole batch)."""
        import ahocorasick

        todo = sorted(set(words) - self._counts.keys())
        if not todo:
            return
        automaton = ahocorasick.Automaton()
        for word in todo:
            automaton.add_word(word, word)
        automaton.make_automaton()
        counts = Counter(word for text in self._texts for _, word in automaton.iter(text))
        self._counts.update({word: counts[word] for word in todo})

    def count(self, word: str) -> int:
        if word not in self._counts:
            self.prepare([word])
        return self._counts[word]


# --------------------------------------------------------------------------------------------------------------
# Slot assembly
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """Which general filters a slot gets.

    ``common_freq``: drop candidates whose jieba frequency exceeds it (None: no check). ``common_ok``: says
    that a frequent candidate is frequent for the right reason and stays (a place name tagged ``ns`` by jieba,
    a 3-character person name: 毛泽东 is frequent because famous). ``exempt_reliable``: candidates from a
    reliable source (an annotated slot value, a curated dictionary) skip the common-word and phrase checks.
    ``phrase_check``: apply the everyday-phrase rule (``short_phrases``: in its stricter form for 2-3
    character candidates, see ``PHRASE_SHORT_LEN``). ``chat_max``: apply the chat-frequency rule with this
    maximum (see ``CHAT_MAX_COUNT``). ``extra_chars``: characters allowed on top of
    ``ALLOWED_CHARS``. Derived aliases get the same ``common_ok`` but never count as reliable.
    """

    common_freq: int | None = None
    common_ok: Callable[[str], bool] | None = None
    exempt_reliable: bool = True
    phrase_check: bool = False
    short_phrases: bool = False
    chat_max: int | None = None
    extra_chars: str = ""


RELIABLE = Policy()  # curated dictionaries and annotated slot values
NOISY = Policy(common_freq=COMMON_WORD_FREQ, phrase_check=True)  # THUOCL lists


class SlotBuilder:
    """Collects candidate surfaces (and aliases) for one slot type, filters them and renders entry files."""

    def __init__(self, ctx: BuildContext, domain: str, slot: str, policy: Policy) -> None:
        self.ctx, self.domain, self.slot, self.policy = ctx, domain, slot, policy
        self._candidates: dict[str, bool] = {}  # cleaned surface -> reliable?
        self._aliases: dict[str, set[str]] = defaultdict(set)  # alias surface -> canonical values
        self._dropped: set[str] = set()
        self._kept: set[str] | None = None
        chars = ALLOWED_CHARS + re.escape(policy.extra_chars)
        self._allowed = re.compile(f"[{chars}]+")

    # -- input ---------------------------------------------------------------------------------------------
    def add(self, surfaces: Iterable[str], reliable: bool) -> None:
        """Add candidates; whitespace is stripped, duplicates merge (reliable if any source is)."""
        if self._kept is not None:
            raise RuntimeError("add() after finalize()")
        for raw in surfaces:
            surface = clean(raw)
            if surface and surface not in self._dropped:
                self._candidates[surface] = self._candidates.get(surface, False) or reliable

    def drop(self, rule: str, surface: str) -> None:
        """Record a source-specific rule dropping ``surface``: removed if already added, refused later."""
        if self._kept is not None:
            raise RuntimeError("drop() after finalize()")
        surface = clean(surface)
        if not surface or surface in self._dropped:
            return
        self._candidates.pop(surface, None)
        self._dropped.add(surface)
        self.ctx.report.record(rule, self.domain, self.slot, surface)

    def dropped(self) -> set[str]:
        """Surfaces dropped so far by source-specific rules."""
        return set(self._dropped)

    def candidates(self) -> set[str]:
        """Surfaces added so far (before the general rules)."""
        return set(self._candidates)

    def add_alias(self, surface: str, value: str) -> None:
        """Register ``surface`` as an alias of the kept entry ``value`` (checked in :meth:`render`)."""
        surface = clean(surface)
        if surface and surface != value:
            self._aliases[surface].add(value)

    # -- filtering -----------------------------------------------------------------------------------------
    def rejection(self, surface: str, reliable: bool, policy: Policy | None = None) -> str | None:
        """Name of the first general rule that rejects ``surface``, or None if it passes."""
        policy = policy or self.policy
        if len(surface) < 2:
            return "single_char"
        if not self._allowed.fullmatch(surface):
            return "bad_chars"
        if surface.lower() in STOPWORDS:
            return "stopword"
        if NUMERAL.fullmatch(surface):
            return "numeral"
        if reliable and policy.exempt_reliable:
            return None
        frequent = policy.common_freq is not None and self.ctx.words.freq(surface) > policy.common_freq
        if frequent and not (policy.common_ok is not None and policy.common_ok(surface)):
            return "common_word"
        if policy.chat_max is not None and self.ctx.chat.count(surface) > policy.chat_max:
            return "chat_frequent"
        if policy.phrase_check and self.ctx.words.is_everyday_phrase(surface, policy.short_phrases):
            return "everyday_phrase"
        return None

    def finalize(self) -> set[str]:
        """Apply the general rules once; return the kept canonical surfaces."""
        if self._kept is None:
            if self.policy.chat_max is not None:
                self.ctx.chat.prepare(self._candidates)
            kept: dict[str, str] = {}  # matching key (pipeline.text.normalize) -> surface
            for surface, reliable in sorted(self._candidates.items()):
                rule = self.rejection(surface, reliable)
                if rule is None and normalize(surface) in kept:
                    rule = "case_duplicate"  # QQ next to qq: the gazetteer matches case-insensitively
                if rule is None:
                    kept[normalize(surface)] = surface
                else:
                    self.ctx.report.record(rule, self.domain, self.slot, surface)
            self._kept = set(kept.values())
        return self._kept

    # -- output --------------------------------------------------------------------------------------------
    def render(self, blocked: Callable[[str], bool] | None = None) -> tuple[list[str], list[str]]:
        """Entry lines and alias lines (``alias<TAB>value``), sorted, after alias checks.

        An alias is dropped if it fails the general rules of the slot's policy (as a derived form it is never
        a reliable source), if it would point to two different values (``alias_ambiguous``), or if
        ``blocked(alias)`` says a more specific slot already owns it (``alias_shadowed``). A kept entry that is
        also an unambiguous alias (北京 next to 北京市) becomes the alias, so the value is normalised.
        """
        kept = self.finalize()
        alias_policy = dataclasses.replace(self.policy, exempt_reliable=False)
        aliases: dict[str, str] = {}
        for surface, values in sorted(self._aliases.items()):
            values = {v for v in values if v in kept}
            if not values:
                continue
            if len(values) > 1:
                self.ctx.report.record("alias_ambiguous", self.domain, self.slot, surface)
                continue
            rule = None if surface in kept else self.rejection(surface, False, alias_policy)
            if rule is None and blocked is not None and surface not in kept and blocked(surface):
                rule = "shadowed"
            if rule is not None:
                self.ctx.report.record(f"alias_{rule}", self.domain, self.slot, surface)
                continue
            aliases[surface] = values.pop()
        # a value that itself became an alias (X -> Y, Y -> Z) is followed one step, so every value is an entry
        aliases = {a: aliases.get(v, v) for a, v in aliases.items() if aliases.get(v, v) != a}
        entries = sorted(s for s in kept if s not in aliases)
        return entries, sorted(f"{a}\t{v}" for a, v in aliases.items())

    def surfaces(self) -> set[str]:
        """Every surface this slot will match: kept entries and candidate aliases of kept entries."""
        kept = self.finalize()
        return kept | {a for a, vs in self._aliases.items() if vs & kept}


def clean(raw: str) -> str:
    """Remove invisible characters and strip whitespace (incl. the full-width space); internal whitespace is
    left for the bad_chars rule."""
    return INVISIBLE.sub("", raw).strip().strip("\u3000").strip()


# --------------------------------------------------------------------------------------------------------------
# Domain specs and writing
# --------------------------------------------------------------------------------------------------------------


@dataclass
class SlotSpec:
    type: str
    priority: int
    description: str
    files: dict[str, list[str]]  # file name -> sorted lines


@dataclass
class DomainSpec:
    name: str
    description: str
    source: str
    license: str
    slots: list[SlotSpec]

    def manifest(self) -> dict:
        return {
            "domain": self.name,
            "description": self.description,
            "source": self.source,
            "license": self.license,
            "slots": [
                {"type": s.type, "files": list(s.files), "priority": s.priority, "description": s.description}
                for s in self.slots
            ],
        }


def slot_spec(builder: SlotBuilder, priority: int, description: str, **render_kw) -> SlotSpec:
    """Render a slot into ``<slot>.txt`` (+ ``<slot>_aliases.txt`` when it has aliases)."""
    entries, aliases = builder.render(**render_kw)
    files = {f"{builder.slot}.txt": entries}
    if aliases:
        files[f"{builder.slot}_aliases.txt"] = aliases
    return SlotSpec(builder.slot, priority, description, files)


def write_domain(spec: DomainSpec, out_dir: Path) -> dict[str, int]:
    """Write one domain folder atomically (temp folder + rename) and reload it as a self-check."""
    LexiconManifest.model_validate(spec.manifest())
    target = out_dir / spec.name
    tmp = out_dir / f".{spec.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    manifest_text = yaml.safe_dump(spec.manifest(), allow_unicode=True, sort_keys=False, width=1000)
    (tmp / MANIFEST_NAME).write_text(manifest_text, encoding="utf-8")
    expected: dict[str, int] = {}
    for slot in spec.slots:
        for fname, lines in slot.files.items():
            if not lines:
                raise LexiconError(f"{spec.name}/{fname}: every candidate was filtered out")
            (tmp / fname).write_text("\n".join(lines) + "\n", encoding="utf-8")
        expected[slot.type] = sum(len(lines) for lines in slot.files.values())
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    loaded = load_domain(target, spec.name)
    got = {t: loaded.count(t) for t in expected}
    if got != expected:
        raise LexiconError(f"{target}: wrote {expected} entries but reloaded {got}")
    return got


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
        """Slot values of SMP2019 train.json for the given domains (None: all) and slot names."""
        if self._smp2019 is None:
            self._smp2019 = self.json(SMP2019_TRAIN)
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


# --------------------------------------------------------------------------------------------------------------
# music
# --------------------------------------------------------------------------------------------------------------

#: Hand-written (not from any data file): well-known nicknames of singers in artists.txt. Written to
#: ``music/singer_nicknames.txt`` and marked hand-written in the manifest and README.
SINGER_NICKNAMES = {
    "周董": "周杰伦",
    "杰伦": "周杰伦",
    "Jay": "周杰伦",
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


def long_name(word: str) -> bool:
    """Person names of 3+ characters are exempt from the common-word rule (毛泽东, 周恩来 are frequent in
    jieba's dictionary because they are famous; the 2-character collisions are 孙子, 陆军, 田园)."""
    return len(word) >= 3


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


# --------------------------------------------------------------------------------------------------------------
# location
# --------------------------------------------------------------------------------------------------------------

#: Ethnic-group names used in autonomous-area names (广西壮族自治区, 延边朝鲜族自治州, 融水苗族自治县).
ETHNIC = (
    "维吾尔|哈萨克|柯尔克孜|塔吉克|乌孜别克|塔塔尔|俄罗斯|鄂温克|鄂伦春|达斡尔|蒙古|朝鲜|土家|哈尼|傈僳|拉祜|"
    "纳西|景颇|仫佬|毛南|仡佬|布依|布朗|撒拉|东乡|保安|裕固|锡伯|阿昌|普米|独龙|德昂|基诺|门巴|珞巴|赫哲|"
    "回|藏|苗|彝|壮|满|侗|瑶|白|傣|黎|佤|畲|水|羌|怒|京|土"
)
AUTONOMOUS = re.compile(rf"^(.{{2,}}?)(?:(?:{ETHNIC})族?)+自治(区|州|县|旗)$")
PROVINCE_PREFIX = re.compile(r"^(.{2,}?(?:省|自治区))(.{2,})$")
CITY_PREFIX = re.compile(r"^(.{2,}?(?:市|自治州|地区|盟))(.{2,})$")
TOWN_LEVEL = ("镇", "乡", "街道", "村", "办事处")
#: Administrative-code placeholders, not names (省直辖县级行政区划, 中沙群岛的岛礁及其海域). As a prefix
#: (省直辖县级行政区划天门市) the placeholder is removed and the rest is kept.
PLACEHOLDER = re.compile(r"行政区划|及其海域|直辖")
PLACEHOLDER_PREFIX = re.compile(r"^(?:省|自治区)?直辖县级行政区划")
ADMIN_SUFFIXES = ("区", "县", "市", "旗", "州", "盟", "地区", "省")
#: Functional zones: no short form is derived (兰州新区 -> 兰州 would be a city, not this zone).
NO_SHORT_FORM = ("新区", "开发区", "管理区", "园区", "城区", "郊区", "矿区", "林区", "示范区", "试验区")
#: Generic district names that exist in many cities: no short form (城关区 -> 城关, 市中区 -> 市中 would match
#: 城关镇 or 城市中心).
NO_SHORT_FORM_PREFIX = ("城", "市")
MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")


def place_ok(word: str, words: WordStats) -> bool:
    """Why a frequent place name may stay: jieba tags it as a place (ns: 万州, 乌鲁木齐 are frequent in
    jieba's news-based dictionary because they are places) and it is not very frequent (``PLACE_NS_MAX_FREQ``),
    or it is a full administrative name whose stem has >= 2 characters (安陆市, 海淀区). 城区, 矿区, 郊区
    (1-character stem, not ns) are generic."""
    if words.is_place_name(word) and words.freq(word) <= PLACE_NS_MAX_FREQ:
        return True
    suffix = next((s for s in ADMIN_SUFFIXES if word.endswith(s)), None)
    return suffix is not None and len(word) - len(suffix) >= 2


def short_form(name: str, suffixes: tuple[str, ...]) -> str | None:
    """Name without its administrative suffix (河北省 -> 河北, 临夏回族自治州 -> 临夏), or None if the
    remainder would be shorter than 2 characters (杭州 stays 杭州)."""
    m = AUTONOMOUS.match(name)
    if m:
        return m.group(1)
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


def split_district_line(line: str, cities: set[str]) -> tuple[str | None, str | None, str]:
    """(province, city, rest) of a cn_districts line such as 湖南省常德市安乡县 or 常德市津市市.

    A city prefix is only split off when it is a known city (``cities``), so 津市市 or 沙市区 on their own are
    never cut; a repeated prefix (张家口市张家口市察北管理区) is removed twice.
    """
    province = city = None
    m = PROVINCE_PREFIX.match(line)
    if m:
        province, line = m.group(1), m.group(2)
    line = PLACEHOLDER_PREFIX.sub("", line)
    while (m := CITY_PREFIX.match(line)) and m.group(1) in cities:
        city, line = m.group(1), m.group(2)
    return province, city, line


def build_location(ctx: BuildContext) -> DomainSpec:
    """province / city / district from the SMP2019 dictionaries, cn_districts.txt and SMP2019 slot values,
    plus derived short forms (北京<TAB>北京市) and a low-priority THUOCL_diming ``place`` slot.

    Provinces and cities come from curated dictionaries and annotated values, so only the general character
    rules apply to them. cn_districts.txt is a scraped mix: prefixed lines (常德市津市市,
    湖南省常德市安乡县) are split and only the last part is a district (the prefixes feed province/city);
    town-level names (镇, 乡, 街道) are not districts; names cut after 自治 (贡山独龙族怒族自治) are truncated;
    administrative-code placeholders (省直辖县级行政区划) are not names;
    bare short forms (定襄) become aliases of the full name when it exists. Districts are a noisy source:
    the common-word rule applies, with ``place_ok`` as the exemption (城区, 矿区 go; 安陆市 stays), and derived
    short forms must be rare words or moderately frequent ns words (江宁, 万州 stay; 新建, 资源, 比如 go) and
    must not be a province/city surface (``alias_shadowed``).
    """
    district_lines = [clean(x) for x in ctx.lines(DISTRICTS)]
    places = Policy(common_freq=COMMON_WORD_FREQ, common_ok=lambda w: place_ok(w, ctx.words))
    province = SlotBuilder(ctx, "location", "province", RELIABLE)  # curated, short forms included
    city = SlotBuilder(ctx, "location", "city", RELIABLE)
    district = SlotBuilder(ctx, "location", "district", places)

    province.add(ctx.lines(f"{SMP2019_DIC}/province.txt"), reliable=True)
    province.add(ctx.smp2019_slots(None, ["location_province", "startLoc_province", "endLoc_province"]), True)
    city_dic = ctx.lines(f"{SMP2019_DIC}/city.txt")
    city.add(city_dic, reliable=True)
    city.add(ctx.smp2019_slots(None, ["location_city", "startLoc_city", "endLoc_city"]), reliable=True)

    # city prefixes: known cities plus prefixes used by >= 2 district lines (日喀则市桑珠孜区, ...)
    prefix_counts: Counter[str] = Counter()
    for line in district_lines:
        m = PROVINCE_PREFIX.match(line)
        rest = m.group(2) if m else line
        if m:
            province.add([m.group(1)], reliable=True)
        m = CITY_PREFIX.match(rest)
        if m:
            prefix_counts[m.group(1)] += 1
    known_cities = {clean(c) for c in city_dic} | set(MUNICIPALITIES)
    known_cities |= {p for p, n in prefix_counts.items() if n >= 2}
    city.add(sorted(known_cities), reliable=True)

    parts = [split_district_line(line, known_cities) for line in district_lines]
    rests = {rest for _, _, rest in parts}
    city_surfaces = city.finalize() | province.finalize()
    city_surfaces |= {s for n in city_surfaces if (s := short_form(n, ("市", "地区", "盟", "省"))) is not None}
    bare_short_forms: dict[str, str] = {}
    for p, c, rest in parts:
        if not rest:
            district.drop("district_placeholder", "省直辖县级行政区划")
            continue
        full = next((rest + s for s in ("县", "区", "市", "旗") if rest + s in rests), None)
        if rest in city_surfaces or (p is None and c is None and rest in known_cities):
            district.drop("district_is_city", rest)
        elif rest.endswith(TOWN_LEVEL):
            district.drop("district_town_level", rest)
        elif rest.endswith("自治"):
            district.drop("district_truncated", rest)
        elif PLACEHOLDER.search(rest):
            district.drop("district_placeholder", rest)
        elif not rest.endswith(("区", "县", "市", "旗")) and full is not None:
            bare_short_forms[rest] = full  # 定襄 next to 定襄县: an alias, added below
        else:
            district.add([rest], reliable=False)
    district.add(ctx.smp2019_slots(None, ["location_area", "startLoc_area", "endLoc_area"]), reliable=True)

    # derived short forms
    for name in province.finalize():
        if (short := short_form(name, ("特别行政区", "省"))) is not None:
            province.add_alias(short, name)
    for name in city.finalize():
        if (short := short_form(name, ("市", "地区", "盟", "州"))) is not None:
            city.add_alias(short, name)
    for name in district.finalize():
        if name.endswith(NO_SHORT_FORM) or name.startswith(NO_SHORT_FORM_PREFIX):
            continue
        if (short := short_form(name, ("区", "县", "市"))) is not None:
            district.add_alias(short, name)
    for short, name in sorted(bare_short_forms.items()):
        district.add_alias(short, name)
    higher = province.surfaces() | city.surfaces()
    specs = [
        slot_spec(province, 100, "provinces and autonomous regions; short forms as aliases"),
        slot_spec(city, 99, "prefecture-level cities (and the four municipalities); short forms as aliases"),
        slot_spec(district, 90, "counties, districts, county-level cities and zones", blocked=higher.__contains__),
    ]
    ctx.place_names = {line.split("\t")[0] for spec in specs for lines in spec.files.values() for line in lines}

    # THUOCL_diming: low-priority catch-all. Measured on a sample, half of its frequent entries are generic
    # facilities (人才市场, 交警队, 培训中心); only entries jieba also tags as place names (ns) are kept.
    place = SlotBuilder(
        ctx, "location", "place", Policy(COMMON_WORD_FREQ, lambda w: ctx.words.is_place_name(w), phrase_check=True)
    )
    covered = ctx.place_names
    for word, df in ctx.thuocl("diming"):
        word = clean(word)
        if df < THUOCL_MIN_DF["diming"]:
            place.drop("thuocl_rare", word)
        elif word in covered:
            place.drop("place_is_location", word)
        elif word.endswith(GENERIC_PLACE):
            place.drop("place_generic_facility", word)
        elif RELATIVE_PLACE.fullmatch(word):
            place.drop("place_relative", word)
        elif not ctx.words.is_place_name(word):
            place.drop("place_not_ns", word)  # 人才市场, 培训中心, 开新, 五等: generic or unknown
        else:
            place.add([word], reliable=False)

    return DomainSpec(
        "location",
        "Chinese provinces, prefecture-level cities, counties/districts (with short forms) and other places.",
        "nlu/smp2019/dic/{province,city}.txt; nlu/smp2019/train.json location slot values; "
        "entities/places/cn_districts.txt; entities/thuocl/THUOCL_diming.txt (place)",
        f"{LICENSE_SMP2019}; {LICENSE_PLACES}; {LICENSE_THUOCL} (place)",
        [*specs, slot_spec(place, 20, "other place names from THUOCL_diming (frequent ones only); lowest priority")],
    )


#: THUOCL document-frequency floor per list: rare THUOCL entries are mostly long compounds or junk
#: (双涵路, 红居社区) and inflate the lexicon; the floors keep each list to its well-known part.
THUOCL_MIN_DF = {
    "diming": 300,
    "food": 100,
    "medical": 300,
    "car": 300,
    "animal": 300,
    "lishimingren": 300,
}

#: THUOCL_diming entries ending with a facility/organisation word are institutions, not places people name
#: as destinations in these tasks (市政府, 公安局, 某某小区); they are dropped from ``place``.
GENERIC_PLACE = (
    "医院", "学校", "学院", "大学", "中学", "小学", "法院", "政府", "市委", "县委", "公安局", "派出所", "小区", "社区",
    "办事处", "委员会", "居委会", "村委会", "管委会", "公司", "集团", "银行", "电视台", "工厂", "厂", "局", "所", "处",
)

#: Two-character relative locations and school nicknames in THUOCL_diming (东门, 北路, 南站, 三中, 四楼):
#: a direction or numeral followed by a generic place character. jieba tags many of them ns, so the
#: common-word rule alone keeps them.
RELATIVE_PLACE = re.compile(
    r"[东西南北中上下前后内外左右一二三四五六七八九十]"
    r"[门路街站中院口边头里城郊区部面侧岸楼坡脚]"
)


# --------------------------------------------------------------------------------------------------------------
# travel
# --------------------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------------------
# food
# --------------------------------------------------------------------------------------------------------------

#: A character that marks a prepared dish (cooking method or dish type).
DISH_CHARS = set("炒烧炖蒸煮炸烤焖拌卤煎熏酿爆扒烩溜汆涮焗煲羹汤粥饭面饼糕包饺馄饨卷酥丸串锅冻粉酱糊盅煨腌")
#: A common word from THUOCL_food stays if it is used inside at least this many dishName.txt dishes
#: (牛奶 in 牛奶布丁, 韭菜 in 韭菜盒子): then the food sense is the one people cook with.
MIN_DISH_USES = 2
#: THUOCL_food also lists food chemistry (乙醇, 氢氧化钠, 甜味剂): entries with these characters are dropped.
CHEMICAL_CHARS = set("醇钠钾钙氧硫酯酚胺剂烷烯苷氢氮磷铝锌铵")


def build_food(ctx: BuildContext) -> DomainSpec:
    """dish (SMP2019 dishName.txt + cookbook dishName values + THUOCL_food dishes), ingredient (cookbook
    ingredient values + the non-dish part of THUOCL_food).

    dishName.txt is a recipe-site dictionary: reliable, except that some decorated cake/coffee names are
    ordinary words (诱惑, 全家福, 企鹅, 青蛙). A dictionary dish name that is a common word is kept only if it
    has a dish character (炒, 汤, 饭 ...), THUOCL_food lists it too (馒头) or other dishes use it (粽子, 汉堡)
    (``dish_common_not_food``).
    THUOCL_food mixes dishes, raw foods, brands and food chemistry: names with a dish character go to dish
    (a common word among them survives only if dishes use it), chemistry is dropped, and the rest becomes an
    ingredient only if at least ``MIN_DISH_USES`` dictionary dishes use it (牛奶, 鹅肝, 郫县豆瓣 yes; brand
    and shop names such as 天仁, 大富豪, 小酒馆 and oddities such as 礼记, 托盘 no).
    """
    dic = ctx.lines(f"{SMP2019_DIC}/dishName.txt")
    dic = [clean(line.split("\t")[0]) for line in dic]  # two lines carry "dish<TAB>variant"
    dic_text = "\n".join(dic)
    dic_set = set(dic)

    def used_in_dishes(word: str) -> bool:
        return dic_text.count(word) - (word in dic_set) >= MIN_DISH_USES

    food_policy = Policy(common_freq=COMMON_WORD_FREQ, common_ok=used_in_dishes, phrase_check=True)
    dish = SlotBuilder(ctx, "food", "dish", food_policy)
    ingredient = SlotBuilder(ctx, "food", "ingredient", food_policy)
    thuocl_food = [(clean(word), df) for word, df in ctx.thuocl("food")]
    thuocl_words = {word for word, _ in thuocl_food}

    for name in dic + ctx.smp2019_slots(["cookbook"], ["dishName"]):
        name = clean(name)
        corroborated = set(name) & DISH_CHARS or name in thuocl_words or used_in_dishes(name)
        if ctx.words.freq(name) > COMMON_WORD_FREQ and not corroborated:
            dish.drop("dish_common_not_food", name)
    dish.add(dic, reliable=True)
    dish.add(ctx.smp2019_slots(["cookbook"], ["dishName"]), reliable=True)
    ingredient.add(ctx.smp2019_slots(["cookbook"], ["ingredient"]), reliable=True)

    for word, df in thuocl_food:
        target = dish if set(word) & DISH_CHARS else ingredient
        if df < THUOCL_MIN_DF["food"]:
            target.drop("thuocl_rare", word)
        elif set(word) & CHEMICAL_CHARS:
            target.drop("food_chemical", word)
        elif target is ingredient and not used_in_dishes(word):
            target.drop("ingredient_not_in_dishes", word)  # brands and shops: 小酒馆, 天仁, 大富豪
        else:
            target.add([word], reliable=False)
    dishes = dish.finalize()
    for word in sorted(ingredient.candidates() & dishes):
        ingredient.drop("ingredient_is_dish", word)

    return DomainSpec(
        "food",
        "Dish names and cooking ingredients for cookbook requests.",
        "nlu/smp2019/dic/dishName.txt; nlu/smp2019/train.json (cookbook dishName, ingredient); "
        "entities/thuocl/THUOCL_food.txt",
        f"{LICENSE_SMP2019}; {LICENSE_THUOCL}",
        [
            slot_spec(dish, 70, "dish names"),
            slot_spec(ingredient, 60, "ingredients and other foods"),
        ],
    )


# --------------------------------------------------------------------------------------------------------------
# app
# --------------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------------
# THUOCL domains
# --------------------------------------------------------------------------------------------------------------


def thuocl_slot(
    ctx: BuildContext, domain: str, slot: str, name: str, policy: Policy = NOISY
) -> SlotBuilder:
    """A slot from one THUOCL list: entries with document frequency >= ``THUOCL_MIN_DF[name]``, noisy policy.

    THUOCL lists are topic vocabularies, not entity lists: THUOCL_medical starts with 精神, 医院, 检查, 死亡,
    THUOCL_car with 熊猫, 模具; the common-word and phrase rules remove those general words.
    """
    builder = SlotBuilder(ctx, domain, slot, policy)
    for word, df in ctx.thuocl(name):
        if df < THUOCL_MIN_DF[name]:
            builder.drop("thuocl_rare", word)
        else:
            builder.add([word], reliable=False)
    return builder


def build_health(ctx: BuildContext) -> DomainSpec:
    """medical_term: THUOCL_medical (filtered) + SMP2019 health ``keyword`` values (reliable)."""
    term = thuocl_slot(ctx, "health", "medical_term", "medical")
    term.add(ctx.smp2019_slots(["health"], ["keyword"]), reliable=True)
    return DomainSpec(
        "health",
        "Diseases, symptoms, drugs and other medical terms.",
        "entities/thuocl/THUOCL_medical.txt; nlu/smp2019/train.json (health keyword)",
        f"{LICENSE_THUOCL}; {LICENSE_SMP2019}",
        [slot_spec(term, 40, "medical terms (THUOCL, frequent and non-generic only)")],
    )


def build_car(ctx: BuildContext) -> DomainSpec:
    """car: THUOCL_car (brands, models, parts), filtered."""
    return DomainSpec(
        "car",
        "Car brands, models and car-related terms.",
        "entities/thuocl/THUOCL_car.txt",
        LICENSE_THUOCL,
        [slot_spec(thuocl_slot(ctx, "car", "car", "car"), 40, "car brands, models and terms (THUOCL)")],
    )


def build_animal(ctx: BuildContext) -> DomainSpec:
    """animal: THUOCL_animal, filtered."""
    return DomainSpec(
        "animal",
        "Animal names.",
        "entities/thuocl/THUOCL_animal.txt",
        LICENSE_THUOCL,
        [slot_spec(thuocl_slot(ctx, "animal", "animal", "animal"), 40, "animal names (THUOCL)")],
    )


def build_person(ctx: BuildContext) -> DomainSpec:
    """historical_person: THUOCL_lishimingren (filtered) + SMP2019 poetry authors (reliable).

    3+ character names are exempt from the common-word rule (毛泽东, 周恩来 are frequent because famous);
    2-character ones are not (孙子, 陆军, 田间, 杜鹃 are in the list). The list also holds many ordinary
    given names (王石, 陈明, 刘文, 婷婷): a 2-character THUOCL name must be a person name in jieba's
    dictionary (tag nr/nrfg/nrt) to stay (``person_not_known_name``).
    """
    policy = Policy(common_freq=COMMON_WORD_FREQ, common_ok=long_name)  # names are not phrases: no phrase rule
    person = thuocl_slot(ctx, "person", "historical_person", "lishimingren", policy)
    for word, _ in ctx.thuocl("lishimingren"):
        word = clean(word)
        if len(word) == 2 and word not in person.dropped() and not ctx.words.is_person_name(word):
            person.drop("person_not_known_name", word)
    person.add(ctx.smp2019_slots(["poetry"], ["author"]), reliable=True)
    return DomainSpec(
        "person",
        "Famous historical and public persons.",
        "entities/thuocl/THUOCL_lishimingren.txt; nlu/smp2019/train.json (poetry author)",
        f"{LICENSE_THUOCL}; {LICENSE_SMP2019}",
        [slot_spec(person, 40, "historical and famous persons (THUOCL 历史名人, SMP2019 poets)")],
    )


# --------------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------------


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
    "person": build_person,
}

#: Domains that ``build_lexicons`` (``duihua lexicon build``) writes: the ones conf/lexicons/ can select.
#: ``person`` is built on request only (``python -m pipeline.lexicon.build --domains person``).
SHIPPED_DOMAINS = ("music", "location", "travel", "food", "app", "health", "car", "animal")


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


def main(argv: list[str] | None = None) -> int:
    repo_root = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=repo_root.parent / "shared" / "data")
    parser.add_argument("--out-dir", type=Path, default=repo_root / "lexicons")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--report", action="store_true", help="print Markdown tables of counts and drops")
    parser.add_argument(
        "--domains",
        nargs="+",
        default=list(SHIPPED_DOMAINS),
        metavar="NAME",
        help=f"domains to build (default: the shipped ones; also available: "
        f"{', '.join(sorted(set(BUILDERS) - set(SHIPPED_DOMAINS)))})",
    )
    args = parser.parse_args(argv)
    try:
        report = run_build(args.data_dir, args.out_dir, progress=not args.no_progress, names=args.domains)
    except LexiconError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.report:
        print(report.markdown())
    else:
        for domain, slots in report.counts.items():
            print(domain, ", ".join(f"{slot}={n}" for slot, n in slots.items()))
        print("dropped:", ", ".join(f"{rule}={n}" for rule, n in report.rule_totals().items()))
    print(f"built {sum(map(len, report.counts.values()))} slot types in {report.seconds:.1f}s -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
