"""The splitter's pieces: labels and model view, span helpers, windows, the loss, learning, ensembles."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import BertConfig

from models.splitter.features import IGNORE, CharIds, boundary_labels, collate, encode_example, splitter_view
from models.splitter.inference import Splitter, SplitterEnsemble, windows
from models.splitter.modeling import HeadConfig, SplitterModel
from models.splitter.scoring import gold_boundaries, score
from models.splitter.sources import is_dev, split_sentences
from models.splitter.spans import extend_over_closing, punct_cuts, spans_from_cuts
from models.splitter.synth import clean, strip_punct, synthesize
from tests.conftest import DATA


def test_boundary_labels_mark_the_last_character_of_each_sentence_but_the_final_one():
    chars, labels = boundary_labels(["明天天气怎么样", "我想听歌"])
    assert "".join(chars) == "明天天气怎么样我想听歌"
    assert labels[6] == 1.0 and sum(v == 1.0 for v in labels) == 1
    assert labels[-1] == IGNORE  # the end of the input always ends a sentence


def test_boundary_labels_follow_folded_digits():
    chars, labels = boundary_labels(["调到26度", "3点叫我"])
    assert chars == ["调", "到", "0", "度", "0", "点", "叫", "我"]
    assert labels[3] == 1.0 and labels[2] == 0.0


def test_splitter_view_drops_punctuation_and_spaces_but_keeps_offsets():
    text = "你好， 我想听《稻香》！"
    chars, spans = splitter_view(text)
    assert "".join(chars) == "你好我想听稻香"
    assert [text[a:b] for a, b in spans] == list("你好我想听稻香")


def test_split_sentences_cuts_after_final_punctuation_runs_and_keeps_closing_quotes():
    assert split_sentences("好的。麻烦您！！真的吗？”他说") == ["好的。", "麻烦您！！", "真的吗？”", "他说"]
    assert split_sentences("你好，我想听歌") == ["你好，我想听歌"]


def test_dev_split_is_stable_and_roughly_the_asked_share():
    ids = [f"crosswoz:{i}" for i in range(5000)]
    share = sum(is_dev(i, 15.0) for i in ids) / len(ids)
    assert 0.12 < share < 0.18
    assert [is_dev(i, 15.0) for i in ids[:50]] == [is_dev(i, 15.0) for i in ids[:50]]


def test_clean_strips_punctuation_and_keeps_whole_sentences_up_to_the_limit():
    assert clean(["你好，", "！", "我想 听歌。"], 100) == ["你好", "我想听歌"]
    assert clean(["一二三四", "五六七八"], 6) == ["一二三四"]
    assert strip_punct(" 你好，世界！ ") == "你好世界"


def test_synthesize_is_reproducible_and_respects_the_mix():
    from models.splitter.sources import Group

    groups = {"requests": [Group(f"r{i}", [[f"请求{i}"]]) for i in range(20)],
              "news": [Group("n", [["第一句。", "第二句。", "第三句。"]])]}
    counts = {"requests": {2: 1.0}, "news": {1: 1.0}}
    a = synthesize(groups, {"requests": 1.0, "news": 0.0}, counts, 50, 7, 100)
    assert a == synthesize(groups, {"requests": 1.0, "news": 0.0}, counts, 50, 7, 100)
    assert len(a) == 50 and all(len(ex) == 2 and ex[0].startswith("请求") for ex in a)


def test_punct_cuts_and_spans_keep_runs_and_trim_space():
    text = "你好！！ 我想听歌？？好"
    cuts = punct_cuts(text)
    assert cuts == [4, 11]
    assert [text[a:b] for a, b in spans_from_cuts(text, cuts)] == ["你好！！", "我想听歌？？", "好"]
    assert spans_from_cuts("。。。", punct_cuts("。。。")) == []  # punctuation alone is no sentence


def test_a_model_cut_moves_past_closing_punctuation_but_not_opening_marks():
    text = "你好，我想听《稻香》"
    assert extend_over_closing(text, 2, 3) == 3          # 你好， | 我想
    assert extend_over_closing(text, 5, 6) == 5          # 我想听 | 《稻香》: 《 opens the next sentence


@pytest.mark.parametrize("n", [1, 253, 254, 255, 1000, 10_000])
@pytest.mark.parametrize("size", [254, 62, 8])
def test_windows_keep_every_position_exactly_once(n, size):
    kept = []
    for start, end, keep_start, keep_end in windows(n, size, 32):
        assert 0 <= start <= keep_start <= keep_end <= end <= n and end - start <= size
        kept += range(keep_start, keep_end)
    assert kept == list(range(n))


def test_score_counts_boundaries_and_exact_records():
    gold = [gold_boundaries(["明天天气怎么样", "我想听歌"]), set()]
    assert score(gold, [{7}, set()]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "exact": 1.0,
                                         "gold_boundaries": 1, "predicted_boundaries": 1}
    assert score(gold, [set(), set()])["precision"] == 0.0  # never splitting is not "precise"


def _tiny_model(vocab_size: int, soft_weight: float = 0.0) -> SplitterModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    return SplitterModel(config, HeadConfig(mlp_dim=32, dropout=0.0, soft_weight=soft_weight))


def test_soft_labels_pull_the_probabilities_to_the_teachers(tiny_tokenizer):
    ids = CharIds.from_tokenizer(tiny_tokenizer)
    chars, labels = boundary_labels(["明天天气怎么样", "我想听歌"])
    soft = [0.3] * (len(chars) - 1) + [IGNORE]
    batch = collate([encode_example(chars, ids, labels, soft)])
    model = _tiny_model(len(tiny_tokenizer), soft_weight=1.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        model(**batch)["loss"].backward()
        opt.step()
    probs = torch.sigmoid(model(batch["input_ids"], batch["attention_mask"])["logits"])[0, 1:len(chars)]
    assert torch.allclose(probs, torch.full_like(probs, 0.3), atol=0.05)  # hard labels are ignored at weight 1


def test_the_model_learns_where_requests_join(tiny_tokenizer):
    """A tiny model trained on joins of the test queries finds the joins of new pairs of them."""
    lines = ["".join(line.split()) for line in (DATA / "pretrain_tiny.txt").read_text(encoding="utf-8").splitlines()]
    rng = random.Random(0)
    ids = CharIds.from_tokenizer(tiny_tokenizer)

    def sample(n: int) -> list[list[str]]:
        return [rng.sample(lines, rng.choice([1, 2, 3])) for _ in range(n)]

    model = _tiny_model(len(tiny_tokenizer))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(200):
        batch = collate([encode_example(c, ids, labels) for c, labels in map(boundary_labels, sample(32))])
        opt.zero_grad()
        model(**batch)["loss"].backward()
        opt.step()
    test = sample(100)
    splitter = Splitter(model.eval(), ids)
    pred = [set(cuts) for cuts in splitter.cuts(["".join(ex) for ex in test])]
    assert score([gold_boundaries(ex) for ex in test], pred)["f1"] > 0.9


def test_an_ensemble_averages_its_members(tiny_splitter_dir):
    a = Splitter.from_pretrained(tiny_splitter_dir)
    b = Splitter.from_pretrained(tiny_splitter_dir)
    torch.nn.init.constant_(b.model.head[-1].bias, 5.0)  # b is almost always sure of a boundary
    seqs = [list("明天天气怎么样我想听歌")]
    pa, pb = a.probabilities(seqs)[0], b.probabilities(seqs)[0]
    mean = SplitterEnsemble([a, b]).probabilities(seqs)[0]
    assert mean == pytest.approx([(x + y) / 2 for x, y in zip(pa, pb, strict=True)])
    with pytest.raises(ValueError):
        SplitterEnsemble([])


def test_speech_noise_prefixes_requests_and_keeps_every_boundary_before_the_added_words():
    from models.splitter.synth import SpeechNoise

    rng = random.Random(0)
    connect = SpeechNoise(connectives=["顺便"], connective_p=1.0)
    out = connect.apply(["明天天气怎么样", "把空调调到二十六度"], rng)
    assert out == ["明天天气怎么样", "顺便把空调调到二十六度"]   # never before the first request
    assert gold_boundaries(out) == {7}
    assert SpeechNoise(connective_p=1.0).apply(["甲", "乙"], rng) == ["甲", "乙"]
    filled = SpeechNoise(fillers=["嗯"], filler_p=1.0).apply(["打开qq", "播放稻香"], rng)
    assert filled == ["嗯打开qq", "嗯播放稻香"]
    restarted = SpeechNoise(restart_p=1.0).apply(["我想听稻香"], rng)[0]
    assert restarted.endswith("我想听稻香") and restarted[:-5] == "我想听稻香"[:len(restarted) - 5]
    assert 1 <= len(restarted) - 5 <= 3


def test_same_domain_runs_draw_every_request_from_the_first_ones_domain():
    from models.splitter.sources import Group
    from models.splitter.synth import requests_example

    groups = [Group(f"g{i}", [[f"{d}{i}"]], d) for i, d in enumerate(["天气", "音乐"] * 20)]
    rng = random.Random(1)
    for _ in range(20):
        run = requests_example(groups, rng, {4: 1.0}, same_label_p=1.0)
        assert len({r[:2] for r in run}) == 1
