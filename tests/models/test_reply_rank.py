"""Sample-and-rank parts: the response-selection model learns a pairing, the safety net, ranking with
fallback, BM25's k best hits and several samples per context."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from models.common.simple_training import train_steps
from models.reply.data import ChatPair
from models.reply.inference import InputLimits, ReplyGenerator
from models.reply.ranking import Candidate, RankWeights, choose, dedupe
from models.reply.retrieval import BM25Index
from models.reply.safety import SafetyNet
from models.reply.selection import ResponseSelector, SelectionEncoder, SelectionModel
from models.reply.selection_config import SelectionHeadConfig
from models.reply.selection_train import batch_loss, encode_pairs, recall_at_1
from tests.models.conftest import TINY_ARCH


def tiny_selection(tokenizer, seed: int = 0) -> SelectionModel:  # noqa: ANN001
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **TINY_ARCH)
    return SelectionModel(config, SelectionHeadConfig(temperature=0.1, max_query_chars=8, max_response_chars=8))


def pairing_task(tokenizer, n: int = 24) -> list[ChatPair]:  # noqa: ANN001
    """Query character i is answered by character perm(i): nothing a model knows before training."""
    chars = sorted(t for t in tokenizer.get_vocab() if len(t) == 1 and "\u4e00" <= t <= "\u9fff")[: 2 * n]
    rng = random.Random(0)
    answers = chars[n:]
    rng.shuffle(answers)
    return [ChatPair((q + q,), a + a) for q, a in zip(chars[:n], answers, strict=True)]


# -- the selection model -----------------------------------------------------------------------------------
def test_selection_model_learns_a_pairing_with_in_batch_negatives(tiny_tokenizer, tmp_path: Path) -> None:  # noqa: ANN001
    pairs = pairing_task(tiny_tokenizer)
    model = tiny_selection(tiny_tokenizer)
    before = recall_at_1(ResponseSelector(model, tiny_tokenizer), pairs, candidates=10)
    items = encode_pairs(SelectionEncoder(tiny_tokenizer, model.head_config), pairs)
    pad_id = tiny_tokenizer.pad_token_id
    train_steps(model, items, lambda m, b: batch_loss(m, b, pad_id), steps=150, lr=3e-3, batch_size=len(items))
    model.save(tmp_path)
    tiny_tokenizer.save_pretrained(str(tmp_path))
    loaded = ResponseSelector.from_pretrained(tmp_path)   # fp16 on disk, tokenizer.json read without transformers
    after = recall_at_1(loaded, pairs, candidates=10)
    assert before < 0.5 and after >= 0.9, (before, after)
    scores = loaded.scores(["一一"], [["二二", "三三", "四四"]])
    assert len(scores) == 1 and len(scores[0]) == 3 and all(-1.0 <= s <= 1.0 for s in scores[0])


def test_equal_responses_in_a_batch_are_not_negatives(tiny_tokenizer) -> None:  # noqa: ANN001
    model = tiny_selection(tiny_tokenizer)
    encode = SelectionEncoder(tiny_tokenizer, model.head_config)
    twice = encode_pairs(encode, [ChatPair(("你好",), "哈哈"), ChatPair(("在吗",), "哈哈")])
    mixed = encode_pairs(encode, [ChatPair(("你好",), "哈哈"), ChatPair(("在吗",), "好的")])
    pad_id = tiny_tokenizer.pad_token_id
    with torch.no_grad():
        assert float(batch_loss(model, twice, pad_id)) == pytest.approx(0.0, abs=1e-5)  # only the positive left
        assert float(batch_loss(model, mixed, pad_id)) > 0.01


# -- the safety net and ranking ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "problem"), [
    ("你真是个傻逼", "blocked"), ("SB", None), ("好", "too short"), ("哈" * 3 + "呀" * 40, "too long"),
    ("哈哈哈哈哈哈", "character run"), ("我也是我也是我也是", "repeated n-gram"),
    ("哈哈哈哈，我也是", None), ("今天天气不错，出去走走吧", None)])
def test_safety_net_names_the_problem(text: str, problem: str | None) -> None:
    net = SafetyNet(blocklist=["傻逼"], min_chars=2, max_chars=40, max_char_run=5, ngram=2, max_ngram_count=2)
    assert net.problem(text) == problem


def test_safety_net_rejects_bad_limits() -> None:
    with pytest.raises(ValueError, match="min_chars"):
        SafetyNet(min_chars=5, max_chars=2)


def test_the_best_candidate_that_passes_wins_and_none_when_all_fail() -> None:
    pool = [Candidate("我也是我也是我也是", "sample", 0, selection=0.9),   # best, but repetitive
            Candidate("傻逼吧你", "retrieval", 0, selection=0.8, bm25=1.0),  # next, but blocked
            Candidate("今天挺好的", "sample", 1, selection=0.5),
            Candidate("还行吧", "beam", 0, selection=0.4)]
    net = SafetyNet(blocklist=["傻逼"])
    won = choose(pool, RankWeights(), net)
    assert won is not None and won[0].text == "今天挺好的" and won[1] == pytest.approx(0.5)
    assert choose(pool, RankWeights(bias={"beam": 0.2}), net)[0].text == "还行吧"   # 0.6 beats 0.5
    assert choose(pool[:2], RankWeights(), net) is None


def test_weights_add_fluency_and_bm25_to_the_selection_score() -> None:
    weights = RankWeights(selection=1.0, logprob=0.5, bm25=0.2, bias={"retrieval": -0.1})
    assert weights.score(Candidate("a", "sample", logprob=-2.0, selection=0.5)) == pytest.approx(-0.5)
    assert weights.score(Candidate("a", "retrieval", bm25=0.5, selection=0.5)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown kinds"):
        RankWeights(bias={"template": 1.0})


def test_dedupe_keeps_the_first_of_each_text_and_drops_empty_ones() -> None:
    pool = [Candidate("好", "beam"), Candidate("", "sample"), Candidate("好", "sample", 1),
            Candidate("行", "retrieval")]
    assert [(c.text, c.kind) for c in dedupe(pool)] == [("好", "beam"), ("行", "retrieval")]


# -- the candidate sources ---------------------------------------------------------------------------------
def test_bm25_k_best_hits_start_with_the_best_and_break_ties_by_order() -> None:
    index = BM25Index(["今天天气", "今天天气", "明天下雨", "今天吃什么"], ["一", "二", "三", "四"])
    hits = index.search_k("今天天气怎么样", 3)
    assert [h.response for h in hits] == ["一", "二", "四"]
    assert hits[0].response == index.search("今天天气怎么样").response
    assert index.search_k("完全无关", 3) == [] and index.search_k("今天", 0) == []
    assert [h.response for h in index.search_k("吃", 10)] == ["四"]   # only pairs with a score above 0


def test_several_samples_per_context_and_the_first_is_generates_reply(tiny_tokenizer) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    mlm = BertForMaskedLM(BertConfig(vocab_size=len(tiny_tokenizer), pad_token_id=tiny_tokenizer.pad_token_id,
                                     **{**TINY_ARCH, "num_hidden_layers": 2})).eval()
    generator = ReplyGenerator(mlm, tiny_tokenizer, InputLimits(24, 3, 16))
    from models.reply.decoding import DecodingConfig

    cfg = DecodingConfig(strategy="sample", temperature=1.5, top_p=1.0, min_new_tokens=3, max_new_tokens=6)
    contexts = [["你好"], ["今天天气怎么样"]]
    drawn = generator.sample(contexts, cfg, n=4)
    assert [len(d) for d in drawn] == [4, 4]
    assert [d[0].text for d in drawn] == [r.text for r in generator.generate(contexts, cfg)]
    assert len({r.text for r in drawn[0]}) > 1   # different seeds, different samples
    assert [r.text for r in generator.sample(contexts[1:], cfg, n=4)[0]] == [r.text for r in drawn[1]]
