"""Wordhood features: the bits a word list gives each character, a tiny segmenter that can only segment with
them, a user word list that changes the output without retraining, bad input, ONNX parity and the errors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from models.segmenter.features import WORDHOOD_FEATURES, BigramVocab, CharIds, bmes_tags, collate, encode_example
from models.segmenter.inference import Segmenter
from models.segmenter.modeling import build_model
from models.segmenter.scoring import score
from models.segmenter.wordhood import BITS_PER_SOURCE, Wordhood, read_words, unpack
from models.segmenter.wordhood_training import WordhoodFeaturizer, word_spans
from tests.conftest import _save_tiny
from tests.models.conftest import TINY_ARCH
from tests.models.test_segmenter import assert_partition


def bit(source: int, role: str, length: int) -> int:
    return 1 << (source * BITS_PER_SOURCE + "BME".index(role) * 4 + min(length, 5) - 2)


# ---------------------------------------------------------------- the bits

def test_bits_say_which_listed_words_begin_pass_through_and_end_at_each_character():
    wordhood = Wordhood({"a": {"北京", "北京大学"}, "b": {"大学"}})
    bits = wordhood.bits(list("在北京大学"))
    assert bits[0] == 0                                               # 在: no listed word touches it
    assert bits[1] == bit(0, "B", 2) | bit(0, "B", 4)                 # 北 begins 北京 and 北京大学 (source a)
    assert bits[2] == bit(0, "E", 2) | bit(0, "M", 4)                 # 京 ends 北京, is inside 北京大学
    assert bits[3] == bit(0, "M", 4) | bit(1, "B", 2)                 # 大 begins 大学 (source b)
    assert bits[4] == bit(0, "E", 4) | bit(1, "E", 2)
    features = unpack(bits, WORDHOOD_FEATURES)
    assert features.shape == (5, WORDHOOD_FEATURES) and features.dtype == np.float32
    assert features.sum() == sum(bin(int(b)).count("1") for b in bits)


def test_words_are_folded_like_the_model_view_and_single_characters_are_ignored(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("１９９８年\t12\n大\n\nIPhone手机\n", encoding="utf-8")  # a THUOCL-style frequency column
    assert read_words([path]) == {"0年", "l手机"}


def test_user_words_count_as_known_to_every_source():
    wordhood = Wordhood({"a": set(), "b": {"周杰伦"}}, extra_words=["周董"])
    bits = wordhood.bits(list("来点周董的歌"))
    assert bits[2] == bit(0, "B", 2) | bit(1, "B", 2) and bits[3] == bit(0, "E", 2) | bit(1, "E", 2)


def test_training_dropout_removes_only_gold_words_of_the_derived_source():
    wordhood = Wordhood({"derived": {"北京", "京大"}, "other": {"北京"}})
    chars, piece = list("北京大"), [["北", "京"], ["大"]]
    featurize = WordhoodFeaturizer(wordhood, dropout=1.0, derived=[0], seed=0)
    bits = featurize(piece, chars)
    assert word_spans(piece) == {(0, 2), (2, 3)}
    assert bits[0] == bit(1, "B", 2)                       # 北京 (gold) is gone from source 0 only
    assert bits[1] == bit(1, "E", 2) | bit(0, "B", 2)      # 京大 is not a gold word: kept
    assert np.array_equal(WordhoodFeaturizer(wordhood)(piece, chars), wordhood.bits(chars))


def test_a_wordhood_checkpoint_without_its_lists_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="word lists"):
        Wordhood.load(tmp_path, ["pku"])


# ---------------------------------------------------------------- a tiny model that needs the word list

ALPHABET = list("明天北京气怎么样我想听周杰伦的稻香帮打开空调今上海下雨吗播放一首轻音乐导航到故宫博物院")


def make_lexicon(rng: random.Random, n: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.sample(ALPHABET, rng.choice((2, 3)))))
    return sorted(words)


def sentences(rng: random.Random, lexicon: list[str], n: int) -> list[list[str]]:
    """Listed words and single characters in random order: only the list says where a word ends."""
    return [[rng.choice(lexicon) if rng.random() < 0.6 else rng.choice(ALPHABET) for _ in range(rng.randint(4, 7))]
            for _ in range(n)]


def train_tiny(tokenizer, train, wordhood: Wordhood | None) -> Segmenter:  # noqa: ANN001
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=len(tokenizer), **TINY_ARCH), add_pooling_layer=False)
    vocab = BigramVocab.build([[c for w in s for c in w] for s in train], min_count=1, max_size=2000)
    head = {"bigram_dim": 16, "mha_heads": 0, "mlp_dim": 64, "dropout": 0.0, "aux_weight": 0.0,
            "wordhood_sources": list(wordhood.names) if wordhood else []}
    model, char_ids = build_model(encoder, None, head, len(vocab)), CharIds.from_tokenizer(tokenizer)
    segmenter = Segmenter(model, char_ids, vocab, precision="fp32", wordhood=wordhood)
    examples = [{**segmenter.encode([c for w in s for c in w], "fine"), "labels": np.asarray(
        [-100, -100, *bmes_tags([list(w) for w in s]), -100])} for s in train]
    optim = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for step in range(240):
        batch = collate(examples[(step % 8) * 32:(step % 8 + 1) * 32])
        loss = model(**batch)["loss"]
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    return segmenter


@pytest.fixture(scope="module")
def lexicon_task(tiny_tokenizer):
    rng = random.Random(0)
    seen, unseen = make_lexicon(rng, 40), make_lexicon(random.Random(1), 40)
    unseen = [w for w in unseen if w not in seen]
    train, test = sentences(rng, seen, 256), sentences(rng, unseen, 100)
    with_lists = train_tiny(tiny_tokenizer, train, Wordhood({"list": set(seen)}))
    blind = train_tiny(tiny_tokenizer, train, None)
    return {"seen": seen, "unseen": unseen, "test": test, "with_lists": with_lists, "blind": blind}


def save_checkpoint(segmenter: Segmenter, tokenizer, folder: Path) -> Path:  # noqa: ANN001
    """The trained tiny model in the shipped format, its word lists included."""
    _save_tiny(segmenter.model, tokenizer, segmenter.bigram_vocab, folder)
    segmenter.wordhood.save(folder)
    return folder


def f1(segmenter: Segmenter, test: list[list[str]]) -> float:
    return score(test, segmenter.words(["".join(s) for s in test], "fine"), None)["f1"]


def test_words_no_training_sentence_showed_are_segmented_only_through_the_word_list(lexicon_task):
    """The test sentences are made of words the model never saw: the blind model cannot know them, the
    wordhood model knows them once a user lists them (``extra_words``), with no retraining."""
    segmenter, test = lexicon_task["with_lists"], lexicon_task["test"]
    without = f1(segmenter, test)
    listed = segmenter.wordhood
    segmenter.wordhood = Wordhood(listed.sources, extra_words=lexicon_task["unseen"])
    try:
        with_user_words = f1(segmenter, test)
    finally:
        segmenter.wordhood = listed  # the module's other tests share this model
    blind = f1(lexicon_task["blind"], test)
    assert with_user_words >= 90.0, (with_user_words, without, blind)
    assert with_user_words >= without + 15 and with_user_words >= blind + 15, (with_user_words, without, blind)


def test_a_user_word_file_reaches_the_features_through_from_pretrained(lexicon_task, tiny_tokenizer, tmp_path):
    segmenter = lexicon_task["with_lists"]
    folder = save_checkpoint(segmenter, tiny_tokenizer, tmp_path / "ckpt")
    user = tmp_path / "user_words.txt"
    user.write_text("\n".join(lexicon_task["unseen"]) + "\n", encoding="utf-8")
    test = lexicon_task["test"]
    plain = Segmenter.from_pretrained(folder, precision="fp32")
    told = Segmenter.from_pretrained(folder, precision="fp32", extra_words=[user])
    assert f1(told, test) >= f1(plain, test) + 15
    with pytest.raises(FileNotFoundError, match="word list not found"):
        Segmenter.from_pretrained(folder, extra_words=[tmp_path / "nope.txt"])


def test_bad_inputs_with_wordhood_features(lexicon_task):
    segmenter = lexicon_task["with_lists"]
    rng = random.Random(0)
    long_text = "".join(rng.choice(ALPHABET + list("，。")) for _ in range(10_000))
    texts = ["", "hello world and more latin", long_text, "   "]
    for granularity in ("fine", "coarse"):
        results = segmenter.segment(texts, granularity)
        assert results[0] == [] and results[3] == []
        for text, spans in zip(texts, results, strict=True):
            assert_partition(text, spans)
        assert [texts[1][a:b] for a, b in results[1]] == ["hello", "world", "and", "more", "latin"]


def test_onnx_graph_takes_the_wordhood_input_and_matches_torch(lexicon_task, tiny_tokenizer, tmp_path):
    segmenter = lexicon_task["with_lists"]
    folder = save_checkpoint(segmenter, tiny_tokenizer, tmp_path / "ckpt")
    reference = Segmenter.from_pretrained(folder, precision="fp32")
    onnx = Segmenter.from_pretrained(folder, backend="onnx", cache_dir=tmp_path / "cache")
    texts = ["".join(s) for s in lexicon_task["test"][:20]]
    batch = collate([reference.encode(list(t), "fine") for t in texts])
    assert "lexicon" in batch and batch["lexicon"].sum() > 0
    assert torch.allclose(onnx._logits(batch), reference._logits(batch), atol=1e-4)
    assert onnx.segment(texts, "fine") == reference.segment(texts, "fine")


def test_a_checkpoint_without_wordhood_refuses_user_words(tiny_segmenter_dir, tmp_path):
    user = tmp_path / "words.txt"
    user.write_text("周董\n", encoding="utf-8")
    with pytest.raises(ValueError, match="without wordhood features"):
        Segmenter.from_pretrained(tiny_segmenter_dir, extra_words=[user])


def test_the_stage_names_a_missing_word_list_in_one_line(tiny_segmenter_dir, tmp_path):
    from pipeline.errors import ConfigError
    from pipeline.stages.segmenter_neural import NeuralSegmenter

    with pytest.raises(ConfigError, match=r"segmenter.extra_words: word list not found: .*nope.txt"):
        NeuralSegmenter(str(tiny_segmenter_dir), extra_words=[str(tmp_path / "nope.txt")])
    user = tmp_path / "words.txt"
    user.write_text("周董\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="segmenter.extra_words: .*without wordhood features"):
        NeuralSegmenter(str(tiny_segmenter_dir), extra_words=[str(user)])


def test_encode_example_pads_the_wordhood_bits_like_the_ids(tiny_tokenizer):
    char_ids = CharIds.from_tokenizer(tiny_tokenizer)
    wordhood = Wordhood({"a": {"北京"}})
    ex = encode_example(list("北京"), "fine", char_ids, BigramVocab([]), wordhood=wordhood.bits(list("北京")))
    assert len(ex["wordhood"]) == len(ex["input_ids"]) == 5
    assert ex["wordhood"][[0, 1, 4]].tolist() == [0, 0, 0] and ex["wordhood"][2] == bit(0, "B", 2)


@pytest.mark.parametrize("word", ["北京大学", "１９９８年", "mp3播放器", "3.5公里", "Ａ股", "　全角 空格", "卡拉OK", "",
                                  "ⅱ型", "٣个", "😀表情", "Ⅻ", "ｑｑ音乐"])
def test_the_fast_fold_of_list_words_is_the_model_view(word):
    """fold_word skips the regex walk for words with nothing to fold; it must give what model_view gives."""
    from models.charmap import model_view
    from models.segmenter.wordhood import fold_word

    assert fold_word(word) == "".join(model_view(word)[0])
