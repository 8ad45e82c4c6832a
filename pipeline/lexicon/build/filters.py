"""General filtering rules for every slot, and the word and chat statistics they use.

:class:`Policy` says which general rules a slot gets; :meth:`pipeline.lexicon.build.writer.SlotBuilder.rejection`
applies them in this order: single characters, characters outside ``ALLOWED_CHARS``, ``STOPWORDS``, Chinese
numerals, then (unless the candidate comes from a reliable source) common words (jieba frequency above
``COMMON_WORD_FREQ``, see :class:`WordStats`), phrases frequent in everyday chat (:class:`ChatStats`) and
everyday phrases (:meth:`WordStats.is_everyday_phrase`). Each constant below says why it has its value; the
README lists what the rules removed. Constants of source-specific rules live in their builder's module.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------------------
# Filtering constants (each one is explained where it is used; the README lists what they removed)
# --------------------------------------------------------------------------------------------------------------

#: jieba dictionary frequency above which a string counts as an everyday word. Picked by inspecting the song
#: titles and THUOCL lists against jieba 0.42.1: titles that are plain words sit above it (倒数 173, 晴天 230,
#: 明天 3264, 十年 3649, 朋友 9200) while entity-like strings sit below (稻香 3, 夜曲 23, 青花瓷 51, 周杰伦 89).
COMMON_WORD_FREQ = 100

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
# Policies
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


def long_name(word: str) -> bool:
    """Person names of 3+ characters are exempt from the common-word rule (毛泽东, 周恩来 are frequent in
    jieba's dictionary because they are famous; the 2-character collisions are 孙子, 陆军, 田园)."""
    return len(word) >= 3


def clean(raw: str) -> str:
    """Remove invisible characters and strip whitespace (incl. the full-width space); internal whitespace is
    left for the bad_chars rule."""
    return INVISIBLE.sub("", raw).strip().strip("\u3000").strip()
