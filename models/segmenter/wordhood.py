"""Wordhood features: for each character, which lexicon words start, pass through or end at it.

Why: a segmentation standard is mostly a decision about which strings are one word, and a word list of that
standard knows it for every word it holds, including words the training sentences never show (the MSR
training word list covers the whole MSR training set, the sentences here only a tenth of it). The features
are SoftLexicon's B/M/E sets reduced to bits: for source ``s`` (a word list), role ``r`` (the character
begins, is inside, or ends a listed word) and the word's length bucket ``b`` (2, 3, 4, 5+ characters), bit
``s * 12 + r * 4 + b`` is set. A character's bits travel as one int64 (up to five sources) and are unpacked to
floats only per batch, so a training set costs 8 bytes per character.

Words are matched on the folded model view (``models.charmap``), one Aho-Corasick automaton for all sources
whose value packs the word's length and the mask of the sources that hold it. Single characters carry no
wordhood and are not matched.

User words (``extra_words``) count as known to every source: a word a user adds is as certain as a word all
lists agree on, and it changes the output without retraining.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import ahocorasick
import numpy as np

from models.charmap import model_view
from models.normalization import normalize

ROLES = ("B", "M", "E")
LENGTH_BUCKETS = (2, 3, 4, 5)         # 5 stands for 5 or more characters
BITS_PER_SOURCE = len(ROLES) * len(LENGTH_BUCKETS)
MAX_SOURCES = 64 // BITS_PER_SOURCE  # the bits of one character fit an int64
FOLDER = "wordhood"                  # inside a checkpoint: one ``<source>.txt`` per source, one word per line
_LENGTH_SHIFT = 8                    # automaton value = length << 8 | source mask


_FOLDS = re.compile(r"[\x00-\x7f\s]")   # what model_view folds or drops: ASCII (digits, Latin) and whitespace


def fold_word(word: str) -> str:
    """A word in the model view (``１９９８年`` -> ``0年``), as the characters it is matched against.

    Most list words are CJK only: after normalisation they have nothing ``model_view`` folds, so they are their
    own view. Skipping the per-character regex walk for them is what keeps loading ~270k list words at start-up
    cheap (``duihua run --profile-startup``: the segmenter's build)."""
    normalized = normalize(word)
    return normalized if not _FOLDS.search(normalized) else "".join(model_view(word)[0])


def read_words(paths: Iterable[str | Path]) -> set[str]:
    """Folded words of ≥ 2 characters from word-list files: the first tab-separated column of each line (THUOCL
    lines carry a frequency after the word), blank lines skipped."""
    words: set[str] = set()
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
            word = fold_word(line.split("\t", 1)[0].strip())
            if len(word) >= 2:
                words.add(word)
    return words


def _bit(source: int, role: int, length: int) -> int:
    bucket = min(length, LENGTH_BUCKETS[-1]) - LENGTH_BUCKETS[0]
    return 1 << (source * BITS_PER_SOURCE + role * len(LENGTH_BUCKETS) + bucket)


class Wordhood:
    """Word lists by source name, and the per-character feature bits they give a text."""

    def __init__(self, sources: Mapping[str, set[str]], extra_words: Iterable[str] = ()) -> None:
        if len(sources) > MAX_SOURCES:
            raise ValueError(f"at most {MAX_SOURCES} wordhood sources, got {len(sources)}")
        self.names = list(sources)
        self.sources = {k: set(v) for k, v in sources.items()}
        self.extra = {w for w in map(fold_word, extra_words) if len(w) >= 2}
        masks: dict[str, int] = {}
        for i, words in enumerate(self.sources.values()):
            for w in words:
                masks[w] = masks.get(w, 0) | (1 << i)
        every = (1 << len(self.names)) - 1
        for w in self.extra:
            masks[w] = every
        self.automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for w, mask in masks.items():
            self.automaton.add_word(w, (len(w) << _LENGTH_SHIFT) | mask)
        if masks:
            self.automaton.make_automaton()
        self.n_words = len(masks)
        self._patterns: dict[tuple[int, int], tuple[int, int, int]] = {}

    @property
    def n_features(self) -> int:
        return len(self.names) * BITS_PER_SOURCE

    def matches(self, chars: Sequence[str]) -> list[tuple[int, int, int]]:
        """``(start, end, source mask)`` of every listed word in the folded characters."""
        if not self.n_words or not chars:
            return []
        text = "".join(c if len(c) == 1 else "\x00" for c in chars)  # folded symbols are one character each
        out = []
        for last, value in self.automaton.iter(text):
            length = value >> _LENGTH_SHIFT
            out.append((last + 1 - length, last + 1, value & ((1 << _LENGTH_SHIFT) - 1)))
        return out

    def bits(self, chars: Sequence[str], drop: Mapping[int, set[tuple[int, int]]] | None = None,
             dropout: float = 0.0, rng: random.Random | None = None) -> np.ndarray:
        """One int64 of feature bits per character. ``drop`` maps a source index to word spans (the gold words
        of a sentence the source was derived from) whose match is dropped with probability ``dropout``: in
        training, so that the model learns what to do with a word its list does not hold, as at test time."""
        out = np.zeros(len(chars), dtype=np.int64)
        for start, end, mask in self.matches(chars):
            if drop and dropout and rng is not None:
                for source, spans in drop.items():
                    if mask >> source & 1 and (start, end) in spans and rng.random() < dropout:
                        mask &= ~(1 << source)
            begin, inside, last = self._pattern(mask, end - start)
            out[start] |= begin
            out[end - 1] |= last
            if inside:
                out[start + 1:end - 1] |= inside
        return out

    def _pattern(self, mask: int, length: int) -> tuple[int, int, int]:
        """The B, M and E bits of a word of ``length`` held by the sources in ``mask`` (memoized: a handful of
        distinct pairs covers every match)."""
        key = (mask, min(length, LENGTH_BUCKETS[-1]))
        if key not in self._patterns:
            sources = [s for s in range(len(self.names)) if mask >> s & 1]
            self._patterns[key] = tuple(sum(_bit(s, role, length) for s in sources) if role != 1 or length > 2
                                        else 0 for role in range(len(ROLES)))
        return self._patterns[key]

    def save(self, folder: str | Path) -> None:
        """The lists in a checkpoint (``wordhood/<source>.txt``), sorted so the files diff well."""
        root = Path(folder, FOLDER)
        root.mkdir(parents=True, exist_ok=True)
        for name, words in self.sources.items():
            (root / f"{name}.txt").write_text("".join(w + "\n" for w in sorted(words)), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, names: Sequence[str], extra_words: Iterable[str] = ()) -> Wordhood:
        root = Path(folder, FOLDER)
        missing = [n for n in names if not (root / f"{n}.txt").is_file()]
        if missing:
            raise FileNotFoundError(f"{folder}: the checkpoint's word lists {missing} are missing from {root}")
        return cls({n: read_words([root / f"{n}.txt"]) for n in names}, extra_words)


def unpack(bits: np.ndarray, n_features: int) -> np.ndarray:
    """float32 features ``(..., n_features)`` from the int64 bits of ``Wordhood.bits``."""
    shifts = np.arange(n_features, dtype=np.int64)
    return ((bits[..., None] >> shifts) & 1).astype(np.float32)
