"""The reply generator: prefix-LM mask, cached decoding, decoding strategies, data, metrics, retrieval, training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from models.reply.data import ChatDataError, ChatPair, clean_subtitle, read_tsv, subtitle_dialogues, training_mix
from models.reply.decoding import DecodingConfig, _filter_top, generate
from models.reply.features import PrefixLMCollator, encode_pair, source_ids, to_batch
from models.reply.inference import InputLimits, ReplyGenerator, save_limits
from models.reply.metrics import corpus_bleu, distinct, reply_scores
from models.reply.modeling import CachedDecoder, PrefixLMBert, decode_step, encode_source, prefix_lm_mask
from models.reply.retrieval import BM25Index
from tests.models.conftest import TINY_ARCH


def tiny_mlm(tokenizer, seed: int = 0) -> BertForMaskedLM:  # noqa: ANN001
    torch.manual_seed(seed)
    return BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                      **{**TINY_ARCH, "num_hidden_layers": 2})).eval()


@pytest.fixture(scope="module")
def tiny_generator(tiny_tokenizer) -> ReplyGenerator:  # noqa: ANN001
    return ReplyGenerator(tiny_mlm(tiny_tokenizer), tiny_tokenizer, InputLimits(24, 3, 16))


# -- the attention mask ----------------------------------------------------------------------------------
def test_mask_lets_source_see_source_and_target_see_only_its_past() -> None:
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 0]])  # 3 source, 3 target, 1 pad
    attention = torch.tensor([[1, 1, 1, 1, 1, 1, 0]])
    allowed = (prefix_lm_mask(types, attention)[0, 0] == 0).int()
    expected = torch.tensor([[1, 1, 1, 0, 0, 0, 0],
                             [1, 1, 1, 0, 0, 0, 0],
                             [1, 1, 1, 0, 0, 0, 0],
                             [1, 1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 1, 1, 0, 0],
                             [1, 1, 1, 1, 1, 1, 0],
                             [1, 1, 1, 1, 1, 1, 0]])
    assert torch.equal(allowed, expected)


def test_no_target_position_sees_the_future(tiny_tokenizer) -> None:  # noqa: ANN001
    model = tiny_mlm(tiny_tokenizer)
    item = encode_pair(tiny_tokenizer, ["今天天气怎么样"], "北京下雨了", 24, 3, 16)
    batch = to_batch(PrefixLMCollator(tiny_tokenizer, mlm_probability=0.0)([item]))
    n_src = item["source_len"]

    def hidden(ids: torch.Tensor) -> torch.Tensor:
        mask = prefix_lm_mask(batch.token_type_ids, batch.attention)
        return model.bert(input_ids=ids, token_type_ids=batch.token_type_ids, attention_mask=mask).last_hidden_state

    with torch.no_grad():
        base = hidden(batch.input_ids)
        for j in range(n_src, batch.input_ids.shape[1]):  # change each target token in turn
            changed = batch.input_ids.clone()
            changed[0, j] = tiny_tokenizer.convert_tokens_to_ids("我")
            out = hidden(changed)
            assert torch.allclose(out[0, :j], base[0, :j], atol=1e-6), f"a position before {j} saw token {j}"
            assert not torch.allclose(out[0, j], base[0, j])


def test_labels_are_the_next_target_token(tiny_tokenizer) -> None:  # noqa: ANN001
    item = encode_pair(tiny_tokenizer, ["你好"], "我好", 24, 3, 16)
    batch = PrefixLMCollator(tiny_tokenizer, mlm_probability=0.0)([item])
    ids, labels, n_src = item["input_ids"], batch["lm_labels"][0], item["source_len"]
    assert labels[n_src - 1].item() == ids[n_src]  # the source's [SEP] predicts the first reply character
    assert labels[len(ids) - 2].item() == tiny_tokenizer.sep_token_id  # the last character predicts [SEP]
    assert (labels[: n_src - 1] == -100).all() and batch["token_type_ids"][0, n_src:].eq(1).all()


def test_source_mlm_masks_only_source_characters(tiny_tokenizer) -> None:  # noqa: ANN001
    item = encode_pair(tiny_tokenizer, ["今天天气怎么样我想听周杰伦的稻香"], "好的", 40, 3, 16)
    batch = PrefixLMCollator(tiny_tokenizer, mlm_probability=0.5, seed=1)([item] * 8)
    masked = batch["mlm_labels"] != -100
    assert masked.any()
    assert not masked[:, item["source_len"] - 1 :].any() and not masked[:, 0].any()  # never [CLS]/[SEP]/target


# -- cached decoding -------------------------------------------------------------------------------------
def test_cached_decoding_matches_the_full_forward_pass(tiny_tokenizer) -> None:  # noqa: ANN001
    model = tiny_mlm(tiny_tokenizer)
    decoder = CachedDecoder(model)
    long_src = source_ids(tiny_tokenizer, ["今天天气怎么样"], 24, 3)
    short_src = source_ids(tiny_tokenizer, ["你好"], 24, 3)
    reply = tiny_tokenizer("北京下雨", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        ids = torch.tensor([long_src + reply])
        types = torch.tensor([[0] * len(long_src) + [1] * len(reply)])
        mask = prefix_lm_mask(types, torch.ones_like(ids))
        full = model.cls(model.bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state)
        # a padded batch: row 0 is the long source, row 1 a shorter one padded on the right
        sources = torch.tensor([long_src, short_src + [0] * (len(long_src) - len(short_src))])
        logits, state = encode_source(decoder, sources, (sources != 0).long())
        steps = [logits]
        for tok in reply:
            steps.append(decode_step(decoder, torch.tensor([tok, tok]), state))
    incremental = torch.stack([s[0] for s in steps])
    assert torch.allclose(incremental, full[0, len(long_src) - 1 :], atol=1e-4)
    with torch.no_grad():  # row 1 decodes as if it were alone
        alone, state1 = encode_source(decoder, torch.tensor([short_src]), torch.ones(1, len(short_src)).long())
        assert torch.allclose(alone[0], steps[0][1], atol=1e-4)
        assert torch.allclose(decode_step(decoder, torch.tensor([reply[0]]), state1)[0], steps[1][1], atol=1e-4)


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_decoding_is_deterministic_and_independent_of_the_batch(tiny_generator, strategy) -> None:  # noqa: ANN001
    cfg = DecodingConfig(strategy=strategy, num_beams=3, max_new_tokens=8)
    contexts = [["你好"], ["今天天气怎么样"], ["我想听歌"]]
    first = [r.text for r in tiny_generator.generate(contexts, cfg)]
    again = [r.text for r in tiny_generator.generate(contexts, cfg)]
    alone = [tiny_generator.generate([c], cfg)[0].text for c in contexts]
    assert first == again == alone
    assert all(len(t) <= 8 for t in first)


def test_sampling_follows_the_seed(tiny_generator) -> None:  # noqa: ANN001
    contexts = [["你好"], ["今天天气怎么样"], ["我想听歌"], ["北京"]]
    runs = {seed: [r.text for r in tiny_generator.generate(
        contexts, DecodingConfig(seed=seed, temperature=2.0, max_new_tokens=8))] for seed in (0, 1)}
    assert runs[0] != runs[1]


def test_length_limits_and_banned_tokens(tiny_generator, tiny_tokenizer) -> None:  # noqa: ANN001
    cfg = DecodingConfig(strategy="sample", min_new_tokens=6, max_new_tokens=6, temperature=3.0,
                         repetition_penalty=1.0, no_repeat_ngram_size=0)
    for reply in tiny_generator.generate([["你好"], ["北京"], []], cfg):
        assert len(reply.text) == 6
    ids, attention = tiny_generator._sources([["你好"], ["北京"], []])
    banned = set(tiny_generator.banned)
    assert {tiny_tokenizer.unk_token_id, tiny_tokenizer.mask_token_id, tiny_tokenizer.cls_token_id} <= banned
    for seq, _ in generate(tiny_generator.decoder, ids, attention, tiny_tokenizer.sep_token_id, cfg,
                           tiny_generator.banned):
        assert len(seq) == 6 and not banned & set(seq)  # no [UNK], [unusedN], [MASK], [CLS] ...


def test_no_repeat_ngram_of_size_one_never_repeats_a_character(tiny_generator) -> None:  # noqa: ANN001
    cfg = DecodingConfig(strategy="greedy", min_new_tokens=10, max_new_tokens=10, no_repeat_ngram_size=1)
    for reply in tiny_generator.generate([["你好"], ["今天"]], cfg):
        assert len(set(reply.text)) == len(reply.text) == 10


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(_filter_top(logits, 0, 0.7))[0].tolist()
    assert kept == [True, True, False, False]
    assert torch.isfinite(_filter_top(logits, 1, 1.0))[0].tolist() == [True, False, False, False]


def test_empty_and_very_long_contexts(tiny_generator, tiny_tokenizer) -> None:  # noqa: ANN001
    long_turn = "今天天气怎么样我想听歌" * 500
    replies = tiny_generator.generate([[], [""], [long_turn], ["早", long_turn, "你好"]], DecodingConfig())
    assert len(replies) == 4 and all(isinstance(r.text, str) for r in replies)
    ids = source_ids(tiny_tokenizer, ["早", long_turn, "你好"], 24, 3)
    assert len(ids) == 24 and ids[0] == tiny_tokenizer.cls_token_id and ids[-1] == tiny_tokenizer.sep_token_id
    assert tiny_tokenizer.decode(ids[-3:-1]).replace(" ", "") == "你好"  # the latest turn is kept whole
    assert source_ids(tiny_tokenizer, [], 24, 3) == [tiny_tokenizer.cls_token_id, tiny_tokenizer.sep_token_id]


def test_bad_decoding_options_are_rejected() -> None:
    for bad in ({"strategy": "nucleus"}, {"top_p": 0.0}, {"temperature": 0}, {"max_new_tokens": 0},
                {"repetition_penalty": 0.5}, {"min_new_tokens": 9, "max_new_tokens": 8}):
        with pytest.raises(ValueError):
            DecodingConfig(**bad)


def test_model_learns_to_answer_a_tiny_chat(tiny_tokenizer) -> None:  # noqa: ANN001
    pairs = [("你好", "你好"), ("天气怎么样", "今天下雨"), ("我想听", "播放音乐"), ("北京", "上海明天晴")]
    torch.manual_seed(0)
    model = PrefixLMBert(BertConfig(vocab_size=len(tiny_tokenizer), pad_token_id=tiny_tokenizer.pad_token_id,
                                    **{**TINY_ARCH, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}))
    collate = PrefixLMCollator(tiny_tokenizer, mlm_probability=0.0)
    batch = collate([encode_pair(tiny_tokenizer, [q], r, 24, 3, 16) for q, r in pairs])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        opt.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
    generator = ReplyGenerator(model, tiny_tokenizer, InputLimits(24, 3, 16))
    replies = generator.generate([[q] for q, _ in pairs], DecodingConfig(strategy="greedy", min_new_tokens=1))
    assert [r.text for r in replies] == [r for _, r in pairs]
    assert generator.perplexity([([q], r) for q, r in pairs]) < 1.5


def test_checkpoint_round_trip(tmp_path: Path, tiny_generator) -> None:  # noqa: ANN001
    tiny_generator.model.save_pretrained(str(tmp_path))
    tiny_generator.tokenizer.save_pretrained(str(tmp_path))
    save_limits(tmp_path, tiny_generator.limits)
    loaded = ReplyGenerator.from_pretrained(tmp_path)
    cfg = DecodingConfig(strategy="greedy")
    before = [r.text for r in tiny_generator.generate([["你好"]], cfg)]
    assert [r.text for r in loaded.generate([["你好"]], cfg)] == before
    with pytest.raises(FileNotFoundError, match="duihua train reply"):
        ReplyGenerator.from_pretrained(tmp_path / "missing")


# -- data, metrics, retrieval ----------------------------------------------------------------------------
def test_tsv_strips_character_spaces_and_names_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "good.tsv"
    good.write_text("你 好 呀\t我 很 好\n\n北 京\t首 都\n", encoding="utf-8")
    assert [(p.query, p.response) for p in read_tsv(good)] == [("你好呀", "我很好"), ("北京", "首都")]
    bad = tmp_path / "bad.tsv"
    bad.write_text("你好\t我好\n只有一列\n", encoding="utf-8")
    with pytest.raises(ChatDataError, match=r"bad.tsv:2: expected query<TAB>response"):
        read_tsv(bad)
    (tmp_path / "empty.tsv").write_text("\n", encoding="utf-8")
    with pytest.raises(ChatDataError, match="no query<TAB>response"):
        read_tsv(tmp_path / "empty.tsv")


def test_subtitle_filter_rules(tmp_path: Path) -> None:
    assert clean_subtitle("Sarah  Sarah  我迟到了", 40) is None       # Latin letters
    assert clean_subtitle("我迟到了 办公室有点事", 40) == "我迟到了，办公室有点事"
    assert clean_subtitle("好", 40) is None and clean_subtitle("...", 40) is None
    assert clean_subtitle("很" * 41, 40) is None
    conv = tmp_path / "x.conv"
    conv.write_text("E\nM 你好\nM 你也好\nM Hotch\nM 我们走吧\nM 好的\nE\nM 独白\n", encoding="utf-8")
    assert list(subtitle_dialogues(conv, 40)) == [["你好", "你也好"], ["我们走吧", "好的"]]


def test_training_mix_repeats_and_caps_sources() -> None:
    pools = {"a": [ChatPair(("q",), f"a{i}") for i in range(10)], "b": [ChatPair(("q",), f"b{i}") for i in range(100)]}
    mix = training_mix(pools, {"a": 2, "b": 1}, {"b": 30}, seed=0)
    assert sum(p.response.startswith("a") for p in mix) == 20 and sum(p.response.startswith("b") for p in mix) == 30
    assert mix == training_mix(pools, {"a": 2, "b": 1}, {"b": 30}, seed=0)


def test_bleu_and_distinct_by_hand() -> None:
    assert corpus_bleu(["我很好"], ["我很好"], 2) == pytest.approx(1.0)
    assert corpus_bleu(["abcd"], ["abce"], 1) == pytest.approx(0.75)
    assert corpus_bleu(["abcd"], ["abce"], 2) == pytest.approx((0.75 * 2 / 3) ** 0.5)
    assert corpus_bleu(["ab"], ["abcd"], 1) == pytest.approx(__import__("math").exp(1 - 2))  # brevity penalty
    assert corpus_bleu(["xy"], ["ab"], 2) == pytest.approx((0.1 / 2 * 0.1 / 1) ** 0.5 * 1)  # smoothed, not 0
    assert distinct(["哈哈哈", "哈哈"], 1) == pytest.approx(1 / 5)
    assert distinct(["你好", "你好", "再见"], 2) == pytest.approx(2 / 3)
    assert reply_scores([""], ["你好"]) == {"bleu1": 0.0, "bleu2": 0.0, "distinct1": 0.0, "distinct2": 0.0}


def test_bm25_returns_the_best_matching_pairs_response() -> None:
    index = BM25Index(["今天天气怎么样", "你喜欢什么歌", "北京好玩吗"], ["晴天", "周杰伦的歌", "很好玩"])
    assert index.search("明天天气怎么样").response == "晴天"
    assert index.search("北京有什么好玩的").response == "很好玩"
    assert index.search("ZZZ") is None
    tied = BM25Index(["你好", "你好"], ["第一", "第二"])
    assert tied.search("你好").response == "第一"


def test_train_command_on_miniature_chat_data(tmp_path: Path, tiny_tokenizer) -> None:  # noqa: ANN001
    from omegaconf import OmegaConf

    from models.reply.train import train
    from pipeline.config import load_config

    chat = tmp_path / "data" / "chat"
    (chat / "lccc-toy").mkdir(parents=True)
    (chat / "chatterbot").mkdir()
    (chat / "subtitles").mkdir()
    pairs = [("你 好", "你 好 呀"), ("天 气 怎 么 样", "今 天 下 雨"), ("我 想 听 歌", "好 的")]
    (chat / "lccc-toy/train.tsv").write_text("".join(f"{q}\t{r}\n" for q, r in pairs * 4), encoding="utf-8")
    dialogues = [["你 好", "你 好 呀", "吃 了 吗"], ["北 京", "首 都"]]
    (chat / "lccc-toy/multiturn.json").write_text(json.dumps({"train": dialogues, "valid": dialogues, "test": []},
                                                             ensure_ascii=False), encoding="utf-8")
    (chat / "chatterbot/a.yml").write_text("conversations:\n- - 你是谁\n  - 我是机器人\n", encoding="utf-8")
    (chat / "subtitles/a.conv").write_text("E\nM 你好\nM 你也好\n", encoding="utf-8")
    encoder = tmp_path / "encoder"
    tiny_mlm(tiny_tokenizer).save_pretrained(str(encoder))
    tiny_tokenizer.save_pretrained(str(encoder))
    overrides = [f"data.dir={tmp_path / 'data'}", f"encoder.pretrained={encoder}", f"output_dir={tmp_path / 'out'}",
                 f"work_dir={tmp_path / 'work'}", f"dev_dir={tmp_path / 'dev'}", "trainer.max_steps=3",
                 "trainer.per_device_train_batch_size=4", "trainer.cpu_bf16=false", "trainer.logging_steps=1",
                 "model.limits.max_source_chars=24", "model.limits.max_target_chars=16"]
    cfg = OmegaConf.to_container(load_config("train/reply", overrides), resolve=True)
    cfg["command"] = "duihua train reply (test)"
    result = train(cfg)
    out = tmp_path / "out"
    assert {"config.json", "model.safetensors", "tokenizer.json", "reply.json", "README.md"} <= {
        p.name for p in out.iterdir()}
    assert result["steps"] == 3 and result["dev_pairs"] == 3 and result["ppl"] > 1
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| seed | 42 |" in card and "Example exchanges" in card
    assert read_tsv(tmp_path / "dev" / "lccc_valid.tsv")[0].response == "你好呀"
    assert ReplyGenerator.from_pretrained(out).generate([["你好"]])[0].text is not None
    # eval_only re-scores the saved generator with another decoding and keeps the training record
    cfg2 = OmegaConf.to_container(load_config("train/reply", [*overrides, "eval_only=true", "decoding=greedy"]),
                                  resolve=True)
    rescored = train(cfg2)
    assert rescored["steps"] == 3 and rescored["command"] == "duihua train reply (test)"
    assert "strategy greedy" in (out / "README.md").read_text(encoding="utf-8")
