"""The hashed word index behind the wordhood features: the matches an Aho-Corasick automaton finds, in its order,
the bits the per-match reference gives, one pass for many sequences, and a disk cache that is data only and
rebuilt when its inputs change or its file is damaged."""

from __future__ import annotations

import logging
import random

import ahocorasick
import numpy as np
import pytest

from models.segmenter import wordhood as wordhood_module
from models.segmenter.word_index import WordIndex
from models.segmenter.wordhood import BITS_PER_SOURCE, LENGTH_BUCKETS, Wordhood

ALPHABET = "北京大学生物理化天气怎么样周杰伦的稻香𠀀ab0"  # a character outside the BMP, folded symbols


def random_lexicon(rng: random.Random, n: int, longest: int = 12) -> dict[str, int]:
    words: dict[str, int] = {}
    while len(words) < n:
        words["".join(rng.choices(ALPHABET[:10], k=rng.choice((2, 2, 3, 4, rng.randint(2, longest)))))] = (
            rng.randint(1, 7))
    return words


def automaton_matches(words: dict[str, int], text: str) -> list[tuple[int, int, int]]:
    """What the index replaced: every occurrence, as pyahocorasick reports them."""
    automaton = ahocorasick.Automaton()
    for word, payload in words.items():
        automaton.add_word(word, (len(word), payload))
    automaton.make_automaton()
    return [(last + 1 - length, last + 1, payload) for last, (length, payload) in automaton.iter(text)]


@pytest.mark.parametrize("seed", range(5))
def test_the_index_finds_what_an_aho_corasick_automaton_finds_in_its_order(seed):
    rng = random.Random(seed)
    words = random_lexicon(rng, 300)
    index = WordIndex.build(words)
    for _ in range(40):
        text = "".join(rng.choices(ALPHABET, k=rng.randint(0, 120)))
        found = zip(*(a.tolist() for a in index.find(text)), strict=True)
        assert list(found) == automaton_matches(words, text)


def test_single_characters_and_an_empty_index_match_nothing():
    assert len(WordIndex.build({"北": 1, "京": 2})) == 0
    for index in (WordIndex.build({}), WordIndex.build({"北京": 1})):
        assert all(len(a) == 0 for a in index.find("天"))
    assert WordIndex.build({"北京": 1}).find("在北京")[0].tolist() == [1]


def test_a_damaged_table_is_refused():
    table = WordIndex.build({"北京": 1, "大学": 2}).table
    with pytest.raises(ValueError, match="strictly increasing"):
        WordIndex(table[:, ::-1].copy(), np.zeros((2, 0), dtype=np.uint64))
    with pytest.raises(ValueError, match=r"\(3, n\) uint64"):
        WordIndex(table.astype(np.int64), np.zeros((2, 0), dtype=np.uint64))


def reference_bits(wordhood: Wordhood, chars: list[str]) -> np.ndarray:
    """The bits as the per-match loop computed them before they were vectorized."""
    out = np.zeros(len(chars), dtype=np.int64)
    for start, end, mask in wordhood.matches(chars):
        length = end - start
        bucket = min(length, LENGTH_BUCKETS[-1]) - LENGTH_BUCKETS[0]
        for s in range(len(wordhood.names)):
            if mask >> s & 1:
                base = s * BITS_PER_SOURCE + bucket
                out[start] |= 1 << base
                out[end - 1] |= 1 << (base + 2 * len(LENGTH_BUCKETS))
                for k in range(start + 1, end - 1):
                    out[k] |= 1 << (base + len(LENGTH_BUCKETS))
    return out


def test_bits_of_one_and_of_many_sequences_are_the_per_match_reference():
    rng = random.Random(7)
    lexicon = random_lexicon(rng, 400)
    sources = {name: {w for w, p in lexicon.items() if p >> i & 1} for i, name in enumerate(("a", "b", "c"))}
    wordhood = Wordhood(sources)
    sequences = [rng.choices(ALPHABET[:10], k=rng.randint(0, 40)) for _ in range(30)]
    many = wordhood.bits_many(sequences)
    for chars, bits in zip(sequences, many, strict=True):
        assert np.array_equal(wordhood.bits(chars), reference_bits(wordhood, chars))
        assert np.array_equal(bits, wordhood.bits(chars))  # a word across two sequences belongs to neither


def write_lists(folder, lists: dict[str, list[str]]) -> None:
    root = folder / wordhood_module.FOLDER
    root.mkdir(parents=True, exist_ok=True)
    for name, words in lists.items():
        (root / f"{name}.txt").write_text("\n".join(words) + "\n", encoding="utf-8")


def test_the_disk_cache_serves_a_warm_load_and_follows_every_input(tmp_path, monkeypatch, caplog):
    checkpoint, cache = tmp_path / "checkpoint", tmp_path / "cache"
    write_lists(checkpoint, {"pku": ["北京", "大学"], "msr": ["北京大学"]})
    chars = list("在北京大学听周董")
    cold = Wordhood.load(checkpoint, ["pku", "msr"], ["周董"], cache)
    files = sorted(p.name.split(".", 1)[1] for p in (cache / "wordhood").iterdir())
    assert files == ["json", "npz"]

    read = []
    monkeypatch.setattr(wordhood_module, "read_words", lambda paths: read.append(paths) or set())
    warm = Wordhood.load(checkpoint, ["pku", "msr"], ["周董"], cache)
    assert read == [] and warm.names == ["pku", "msr"] and warm.extra == {"周董"}
    assert np.array_equal(warm.bits(chars), cold.bits(chars))
    monkeypatch.undo()
    assert warm.sources == {"pku": {"北京", "大学"}, "msr": {"北京大学"}}  # read only when asked for

    write_lists(checkpoint, {"pku": ["北京", "大学", "周董"], "msr": ["北京大学"]})
    edited = Wordhood.load(checkpoint, ["pku", "msr"], (), cache)
    assert edited.matches(list("周董")) == [(0, 2, 1)]
    assert Wordhood.load(checkpoint, ["pku", "msr"], (), cache).matches(list("周董")) == [(0, 2, 1)]

    for npz in (cache / "wordhood").glob("*.npz"):
        npz.write_bytes(npz.read_bytes()[:-9] + b"corrupted")
    with caplog.at_level(logging.WARNING):
        rebuilt = Wordhood.load(checkpoint, ["pku", "msr"], (), cache)
    assert "does not match its checksum" in caplog.text
    assert rebuilt.matches(list("周董")) == [(0, 2, 1)]
