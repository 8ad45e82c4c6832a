"""Every listed word in a text, found by hashing: vectorized over the text and stored as one integer array.

Why not an Aho-Corasick automaton (the gazetteer's matcher): the segmenter's lists hold about 240k words, and
building an automaton for them, or parsing a saved one, is most of a cold start (``duihua run
--profile-startup``). Here a word is two independent 64-bit polynomial hashes of its code points, and the index is
the first hashes sorted, with the second hashes and the values beside them: loading it is reading one array.
Matching a text hashes at once every substring that could be a word (from each position whose two characters
open some word, up to the longest word they open) from prefix sums (the hash base is odd, so it has an inverse
modulo 2^64 and a substring's hash is a difference of prefix sums times a power), looks them all up with one
binary search and keeps those whose second hash and length agree too. No Python runs
per character; a false match needs a different string of the same length to agree on 128 bits of hash.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_BASES = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)  # odd, so invertible modulo 2^64
_MASK = (1 << 64) - 1
LENGTH_SHIFT = 8  # value = length << 8 | payload (a source mask of up to 8 bits)


def code_points(text: str) -> np.ndarray:
    """uint64 code points plus one, so that no character hashes like an absent one."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + np.uint64(1)


def _hash_rows(codes: np.ndarray, base: int) -> np.ndarray:
    """Horner's hash of each row of an ``(n_words, length)`` code-point matrix, wrapping modulo 2^64."""
    h = np.zeros(len(codes), dtype=np.uint64)
    for column in codes.T:
        h = h * np.uint64(base) + column
    return h


class WordIndex:
    """Words with an integer payload each; ``find(text)`` -> starts, ends and payloads of every occurrence."""

    def __init__(self, table: np.ndarray, openings: np.ndarray) -> None:
        """``table``: a ``(3, n)`` uint64 array, rows first hash (sorted), second hash, value. ``openings``: a
        ``(2, m)`` uint64 array, rows the hash of each word's first two characters (sorted) and the longest word
        that starts with them, so that ``find`` tries only the lengths a word could have at each position."""
        for name, array, rows in (("table", table, 3), ("openings", openings, 2)):
            if array.ndim != 2 or array.shape[0] != rows or array.dtype != np.uint64:
                raise ValueError(f"a word index {name} is a ({rows}, n) uint64 array, got {array.dtype} {array.shape}")
            if array.shape[1] > 1 and not (array[0][1:] > array[0][:-1]).all():
                raise ValueError(f"a word index {name}'s first row must be strictly increasing")
        self.table, self.openings = table, openings
        self.keys, self.checks = table[0], table[1]
        self.lengths = (table[2] >> np.uint64(LENGTH_SHIFT)).astype(np.int64)
        self.payloads = (table[2] & np.uint64((1 << LENGTH_SHIFT) - 1)).astype(np.int64)
        self.opening_keys, self.opening_longest = openings[0], openings[1].astype(np.int64)
        self._powers = (np.ones(1, dtype=np.uint64),) * 4

    @classmethod
    def build(cls, payloads: Mapping[str, int]) -> WordIndex:
        """The index of ``{word: payload}`` (payload < 256); words shorter than 2 characters are left out."""
        by_length: dict[int, list[str]] = {}
        for word in payloads:
            if len(word) >= 2:
                by_length.setdefault(len(word), []).append(word)
        rows, openings = [], []
        for length, words in by_length.items():
            codes = code_points("".join(words)).reshape(len(words), length)
            values = np.array([length << LENGTH_SHIFT | payloads[w] for w in words], dtype=np.uint64)
            rows.append(np.stack([_hash_rows(codes, _BASES[0]), _hash_rows(codes, _BASES[1]), values]))
            openings.append(np.stack([_hash_rows(codes[:, :2], _BASES[0]), np.full(len(words), length, np.uint64)]))
        table = np.concatenate(rows, axis=1) if rows else np.zeros((3, 0), dtype=np.uint64)
        table = table[:, np.argsort(table[0], kind="stable")]
        if len(table[0]) > 1 and (table[0][1:] == table[0][:-1]).any():  # about 1 in 10^9 for 240k words
            raise ValueError("two words of the list share a 64-bit hash; rename one or drop it")
        return cls(table, _longest_per_key(np.concatenate(openings, axis=1) if openings
                                           else np.zeros((2, 0), dtype=np.uint64)))

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Starts, ends and payloads of every occurrence of an indexed word, ordered by end and, at one end,
        longest first (the order an Aho-Corasick automaton reports them in)."""
        n = len(text)
        if n < 2 or not len(self.keys):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        codes = code_points(text)
        power, inverse, power2, inverse2 = self._powers_for(n)
        sums = _prefix_sums(codes, inverse)
        starts, ends = self._candidates(sums, power, n)
        hashes = (sums[ends] - sums[starts]) * power[ends - 1]
        at = np.minimum(np.searchsorted(self.keys, hashes), len(self.keys) - 1)
        hit = self.keys[at] == hashes
        starts, ends, at = starts[hit], ends[hit], at[hit]
        sums2 = _prefix_sums(codes, inverse2)
        checks = (sums2[ends] - sums2[starts]) * power2[ends - 1]
        hit = (self.checks[at] == checks) & (self.lengths[at] == ends - starts)
        starts, ends, at = starts[hit], ends[hit], at[hit]
        order = np.lexsort((starts, ends))
        return starts[order], ends[order], self.payloads[at[order]]

    def _candidates(self, sums: np.ndarray, power: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(start, end)`` a word could occupy: from each position whose two characters open some word,
        the lengths from 2 to the longest word they open (and no further than the text)."""
        opening = (sums[2:] - sums[:-2]) * power[1:n]
        at = np.minimum(np.searchsorted(self.opening_keys, opening), len(self.opening_keys) - 1)
        positions = np.arange(n - 1)
        longest = np.where(self.opening_keys[at] == opening, self.opening_longest[at], 0)
        counts = np.maximum(np.minimum(longest, n - positions) - 1, 0)
        starts = np.repeat(positions, counts)
        offsets = np.arange(len(starts)) - np.repeat(np.cumsum(counts) - counts, counts)
        return starts, starts + offsets + 2

    def _powers_for(self, n: int) -> tuple[np.ndarray, ...]:
        """``base^k`` and ``base^-k`` for k < n, for both bases; grown by doubling and kept (a server calls this
        from several threads: each call reads one tuple, replaced whole)."""
        powers = self._powers
        if len(powers[0]) < n:
            size = max(n, 2 * len(powers[0]), 64)
            powers = tuple(_power_table(b, size) for base in _BASES for b in (base, pow(base, -1, 1 << 64)))
            self._powers = powers
        return powers


def _power_table(base: int, size: int) -> np.ndarray:
    factors = np.full(size, base & _MASK, dtype=np.uint64)
    factors[0] = 1
    return np.cumprod(factors, dtype=np.uint64)


def _longest_per_key(pairs: np.ndarray) -> np.ndarray:
    """``(2, m)`` rows key, length -> one column per distinct key (sorted) with its greatest length."""
    if not pairs.shape[1]:
        return pairs
    pairs = pairs[:, np.lexsort((pairs[1], pairs[0]))]
    last = np.append(pairs[0][1:] != pairs[0][:-1], True)
    return np.ascontiguousarray(pairs[:, last])


def _prefix_sums(codes: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """``S[k] = Σ_{t<k} c_t · base^-t``: a substring ``[i, j)`` hashes to ``(S[j] - S[i]) · base^(j-1)``."""
    sums = np.zeros(len(codes) + 1, dtype=np.uint64)
    np.cumsum(codes * inverse[:len(codes)], dtype=np.uint64, out=sums[1:])
    return sums
