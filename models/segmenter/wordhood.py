"""Wordhood features: for each character, which lexicon words start, pass through or end at it.

Why: a segmentation standard is mostly a decision about which strings are one word, and a word list of that
standard knows it for every word it holds, including words the training sentences never show (the MSR
training word list covers the whole MSR training set, the sentences here only a tenth of it). The features
are SoftLexicon's B/M/E sets reduced to bits: for source ``s`` (a word list), role ``r`` (the character
begins, is inside, or ends a listed word) and the word's length bucket ``b`` (2, 3, 4, 5+ characters), bit
``s * 12 + r * 4 + b`` is set. A character's bits travel as one int64 (up to five sources) and are unpacked to
floats only per batch, so a training set costs 8 bytes per character.

Words are matched on the folded model view (``models.charmap``), one hashed index for all sources
(``word_index``) whose value is the mask of the sources that hold the word. Single characters carry no
wordhood and are not matched.

User words (``extra_words``) count as known to every source: a word a user adds is as certain as a word all
lists agree on, and it changes the output without retraining.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from models.charmap import model_view
from models.normalization import normalize
from models.segmenter.word_index import WordIndex

ROLES = ("B", "M", "E")
LENGTH_BUCKETS = (2, 3, 4, 5)         # 5 stands for 5 or more characters
BITS_PER_SOURCE = len(ROLES) * len(LENGTH_BUCKETS)
MAX_SOURCES = 64 // BITS_PER_SOURCE  # the bits of one character fit an int64
FOLDER = "wordhood"                  # inside a checkpoint: one ``<source>.txt`` per source, one word per line


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
        self._sources: dict[str, set[str]] | None = {k: set(v) for k, v in sources.items()}
        self.extra = {w for w in map(fold_word, extra_words) if len(w) >= 2}
        masks: dict[str, int] = {}
        for i, words in enumerate(self._sources.values()):
            for w in words:
                masks[w] = masks.get(w, 0) | (1 << i)
        every = (1 << len(self.names)) - 1
        for w in self.extra:
            masks[w] = every
        self._set_index(WordIndex.build(masks))

    @classmethod
    def from_index(cls, names: Sequence[str], index: WordIndex, extra: Iterable[str],
                   read_sources: Callable[[], dict[str, set[str]]]) -> Wordhood:
        """A wordhood over an index built earlier (the disk cache); its lists are read only if ``sources`` is
        asked for (to save them or to build a variant), which inference never does."""
        self = cls.__new__(cls)
        self.names, self._sources, self._read_sources = list(names), None, read_sources
        self.extra = set(extra)
        self._set_index(index)
        return self

    def _set_index(self, index: WordIndex) -> None:
        self.index = index
        self.n_words = len(index)
        # B, M and E bits of a word by (source mask, length, capped at the last bucket); 2 characters: no inside
        self._patterns = np.zeros((1 << len(self.names), LENGTH_BUCKETS[-1] + 1, 3), np.int64)
        for mask in range(1 << len(self.names)):
            sources = [s for s in range(len(self.names)) if mask >> s & 1]
            for length in range(LENGTH_BUCKETS[0], LENGTH_BUCKETS[-1] + 1):
                for role in range(len(ROLES)):
                    if role != 1 or length > 2:
                        self._patterns[mask, length, role] = sum(_bit(s, role, length) for s in sources)

    @property
    def sources(self) -> dict[str, set[str]]:
        if self._sources is None:
            self._sources = self._read_sources()
        return self._sources

    @property
    def n_features(self) -> int:
        return len(self.names) * BITS_PER_SOURCE

    def matches(self, chars: Sequence[str]) -> list[tuple[int, int, int]]:
        """``(start, end, source mask)`` of every listed word in the folded characters, by end."""
        return list(zip(*(a.tolist() for a in self.index.find(_text(chars))), strict=True))

    def bits(self, chars: Sequence[str], drop: Mapping[int, set[tuple[int, int]]] | None = None,
             dropout: float = 0.0, rng: random.Random | None = None) -> np.ndarray:
        """One int64 of feature bits per character. ``drop`` maps a source index to word spans (the gold words
        of a sentence the source was derived from) whose match is dropped with probability ``dropout``: in
        training, so that the model learns what to do with a word its list does not hold, as at test time."""
        starts, ends, masks = self.index.find(_text(chars))
        if drop and dropout and rng is not None:
            masks = masks.copy()
            for k, (start, end, mask) in enumerate(zip(starts.tolist(), ends.tolist(), masks.tolist(), strict=True)):
                for source, spans in drop.items():
                    if mask >> source & 1 and (start, end) in spans and rng.random() < dropout:
                        mask &= ~(1 << source)
                masks[k] = mask
        return self._scatter(len(chars), starts, ends, masks)

    def bits_many(self, sequences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """``bits`` of each sequence, found in one pass over them all: a word that would span two sequences is
        not one of either."""
        if not sequences:
            return []
        bounds = np.cumsum([0] + [len(s) for s in sequences])
        starts, ends, masks = self.index.find("".join(_text(s) for s in sequences))
        owner = np.searchsorted(bounds, starts, side="right") - 1
        inside = ends <= bounds[owner + 1]
        bits = self._scatter(int(bounds[-1]), starts[inside], ends[inside], masks[inside])
        return [bits[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]

    def _scatter(self, n: int, starts: np.ndarray, ends: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """OR each word's B bits into its first character, E bits into its last and M bits into those between."""
        out = np.zeros(n, dtype=np.int64)
        if not len(starts):
            return out
        lengths = ends - starts
        patterns = self._patterns[masks, np.minimum(lengths, LENGTH_BUCKETS[-1])]
        np.bitwise_or.at(out, starts, patterns[:, 0])
        np.bitwise_or.at(out, ends - 1, patterns[:, 2])
        inner = np.maximum(lengths - 2, 0)
        if inner.any():
            first = np.repeat(starts + 1, inner)
            offsets = np.arange(len(first)) - np.repeat(np.cumsum(inner) - inner, inner)
            np.bitwise_or.at(out, first + offsets, np.repeat(patterns[:, 1], inner))
        return out

    def save(self, folder: str | Path) -> None:
        """The lists in a checkpoint (``wordhood/<source>.txt``), sorted so the files diff well."""
        root = Path(folder, FOLDER)
        root.mkdir(parents=True, exist_ok=True)
        for name, words in self.sources.items():
            (root / f"{name}.txt").write_text("".join(w + "\n" for w in sorted(words)), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, names: Sequence[str], extra_words: Iterable[str] = (),
             cache_dir: str | Path | None = None) -> Wordhood:
        """The checkpoint's lists (``save``) plus user words; with ``cache_dir``, through the disk cache of
        ``wordhood_cache``, so that a warm start reads one array instead of folding and indexing every word."""
        root = Path(folder, FOLDER)
        files = [root / f"{n}.txt" for n in names]
        missing = [n for n, f in zip(names, files, strict=True) if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"{folder}: the checkpoint's word lists {missing} are missing from {root}")
        if cache_dir is None:
            return cls({n: read_words([f]) for n, f in zip(names, files, strict=True)}, extra_words)
        from models.segmenter.wordhood_cache import cached_wordhood

        return cached_wordhood(cls, dict(zip(names, files, strict=True)), extra_words, Path(cache_dir))


def _text(chars: Sequence[str]) -> str:
    """The folded characters as one string: a folded symbol longer than one character never matches a word."""
    return "".join(c if len(c) == 1 else "\x00" for c in chars)


def unpack(bits: np.ndarray, n_features: int) -> np.ndarray:
    """float32 features ``(..., n_features)`` from the int64 bits of ``Wordhood.bits``."""
    shifts = np.arange(n_features, dtype=np.int64)
    return ((bits[..., None] >> shifts) & 1).astype(np.float32)
