"""The slot-aware intent model: data formats, features, fusion that learns what only the gazetteer knows,
gates, calibration and decoding."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig

from models.common.char_ids import CharIds
from models.intent.calibration import fit_temperature
from models.intent.data import DataFormatError, IntentExample, is_dev, read_labelled
from models.intent.features import NO_SLOT, PAD_TYPE, SlotTagVocab, collate, encode_examples, encode_text
from models.intent.inference import IntentClassifier
from models.intent.modeling import HeadConfig, SlotAwareIntentModel
from models.intent.scoring import macro_f1, score
from models.tokenization import build_tokenizer, build_vocab, count_chars
from tests.models.conftest import tiny_train_overrides

# -- data -------------------------------------------------------------------------------------------------


def test_reads_both_formats(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(json.dumps([{"text": "播放稻香", "domain": "music", "intent": "PLAY", "slots": {}}]), "utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text('{"query": "你好", "label": "chat"}\n\n{"query": "打开qq", "label": "app"}\n', "utf-8")
    (xa, fa), (xb, fb) = read_labelled(a), read_labelled(b)
    assert fa == "smp2019" and xa == [IntentExample("播放稻香", "music", "PLAY")] and xa[0].label == "music/PLAY"
    assert fb == "smp2017" and [x.label for x in xb] == ["chat", "app"]


@pytest.mark.parametrize("content, message", [
    ('{"query": "你好", "label": "chat"}\n{"query": "x"\n', "b.jsonl:2: not valid JSON"),
    ('{"text": "你好"}\n', 'b.jsonl:1: expected {"query"'),
    ('{"query": "  ", "label": "chat"}\n', "b.jsonl:1: text must be a non-empty string"),
    ('[{"text": "你好", "domain": "chat"}]', 'record 0: expected {"text", "domain", "intent"'),
    ("", "no labelled examples"),
])
def test_bad_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message.replace("{", r"\{").replace("(", r"\(")):
        read_labelled(path)


def test_dev_split_is_stable_and_near_its_share() -> None:
    texts = [f"查询第{i}号的天气" for i in range(4000)]
    share = sum(is_dev(t, 20.0) for t in texts) / len(texts)
    assert 0.17 < share < 0.23
    assert [is_dev(t, 20.0) for t in texts[:50]] == [is_dev(t, 20.0) for t in texts[:50]]


# -- scoring ----------------------------------------------------------------------------------------------


def test_score_uses_each_examples_own_label() -> None:
    gold = [IntentExample("a", "music", "PLAY"), IntentExample("b", "music", "SEARCH"), IntentExample("c", "app")]
    m = score(gold, ["music/PLAY", "music/PLAY", "app/LAUNCH"])
    assert m["accuracy"] == pytest.approx(66.67)         # the SMP2017-style example only needs its domain
    assert m["domain_accuracy"] == 100.0 and m["intent_accuracy"] == 50.0
    assert score([IntentExample("c", "app")], ["app"])["intent_accuracy"] is None


def test_macro_f1_matches_hand_count() -> None:
    # a: tp1 fn1 -> 2/3; b: tp1 fp1 -> 2/3; c: tp1 -> 1
    assert macro_f1(["a", "a", "b", "c"], ["a", "b", "b", "c"]) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_temperature_recovers_the_generating_one() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3
    p = np.exp(logits / 2.0)
    p /= p.sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.15)


# -- features ---------------------------------------------------------------------------------------------


def test_slot_tags_encode_by_position_and_ignore_unknown_types() -> None:
    vocab = SlotTagVocab(["singer", "song"], max_tags=2)
    types, positions = vocab.encode([["B-singer"], ["I-singer", "B-song"], ["B-dish"], []], 5)
    s, g = vocab.index["singer"], vocab.index["song"]
    assert types == [[s, PAD_TYPE], [s, g], [NO_SLOT, PAD_TYPE], [NO_SLOT, PAD_TYPE], [NO_SLOT, PAD_TYPE]]
    assert positions == [[1, 0], [2, 1], [0, 0], [0, 0], [0, 0]]
    assert vocab.matched_types([["B-song"], ["I-song"], ["B-singer", "B-song"]]) == [1, 0]


def test_a_loaded_model_warns_once_about_slot_types_its_lexicons_lacked(caplog) -> None:  # noqa: ANN001
    vocab = SlotTagVocab(["singer"], owner="the intent model", lexicon_types=["singer", "dish"])
    with caplog.at_level("WARNING", logger="models.common.slot_tags"):
        vocab.encode([["B-singer"], ["B-dish"], ["B-city"], ["I-city"]], 4)   # dish: in its lexicons, unseen
        vocab.encode([["B-poet"]], 1)
        SlotTagVocab(["singer"]).encode([["B-city"]], 1)   # nothing recorded (training, older checkpoints)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "the intent model was trained with lexicons that have no slot type 'city'"]
    assert "trained with: dish, singer" in caplog.records[0].getMessage()


def test_token_fusion_appends_one_token_per_matched_type(tiny_tokenizer) -> None:  # noqa: ANN001
    ids = CharIds.from_tokenizer(tiny_tokenizer)
    vocab = SlotTagVocab(["singer", "song"])
    unused = [ids.vocab[f"[unused{i}]"] for i in range(2)]
    slots = [["B-singer"], ["I-singer"], ["I-singer"], [], ["B-song"], ["I-song"]]
    plain = encode_text("周杰伦的稻香", slots, ids, vocab, 126, "gated", unused)
    extra = encode_text("周杰伦的稻香", slots, ids, vocab, 126, "tokens", unused)
    assert len(plain["input_ids"]) == 8 == len(plain["slot_types"])
    assert extra["input_ids"][:8] == plain["input_ids"] and extra["input_ids"][8:] == [*unused, ids.sep]
    assert len(extra["slot_types"]) == len(extra["input_ids"])


def test_collate_is_the_numpy_batch_as_long_tensors(tiny_tokenizer) -> None:  # noqa: ANN001
    """Training's torch batch and inference's numpy batch hold the same numbers (ngrams, labels, soft targets)."""
    from models.intent.features import collate_numpy

    ids, vocab = CharIds.from_tokenizer(tiny_tokenizer), SlotTagVocab(["singer"])
    items = [encode_text(t, [["B-singer"], ["I-singer"]], ids, vocab, 126, "gated", ngram_buckets=97)
             for t in ("周杰伦的稻香", "你好")]
    for i, item in enumerate(items):
        item.update(domain_labels=i, intent_labels=-100, domain_soft=np.array([0.25, 0.75]))
    arrays, tensors = collate_numpy(items, pad_id=3), collate(items, pad_id=3)
    assert arrays.keys() == tensors.keys() >= {"ngram_ids", "domain_labels", "domain_soft"}
    for key, array in arrays.items():
        assert tensors[key].dtype == (torch.float32 if key.endswith("_soft") else torch.long), key
        assert np.array_equal(tensors[key].numpy(), array), key
    assert arrays["input_ids"][1, -1] == 3 and arrays["attention_mask"][1].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]


# -- the model --------------------------------------------------------------------------------------------

SINGERS_TRAIN = ["张学友", "刘德华", "王菲", "陈奕迅", "林俊杰", "孙燕姿", "蔡依林", "邓紫棋", "李宇春", "周华健"]
SINGERS_TEST = ["周杰伦", "薛之谦", "毛不易", "华晨宇"]
NOISE_TRAIN = ["张学军", "刘德明", "王菲菲", "陈奕然", "林俊峰", "孙燕来", "蔡依然", "邓紫云", "李宇航", "周华明"]
NOISE_TEST = ["周杰明", "薛之航", "毛不凡", "华晨光"]


def gazetteer_task(names: list[str], noise: list[str], seed: int) -> list[tuple[str, list[list[str]], int]]:
    """``我想听X`` with X a singer (label 1, tagged by the gazetteer) or a look-alike name (label 0, untagged).

    The character pools overlap, so on held-out names the text alone is a coin flip; the tags decide."""
    rng = random.Random(seed)
    prefix = ["我想听", "来点", "播放"]
    out = []
    for label, pool in ((1, names), (0, noise)):
        for name in pool:
            for p in prefix:
                text = p + name + "的"
                tags = [[] for _ in text]
                if label:
                    start = len(p)
                    for i in range(start, start + len(name)):
                        tags[i] = ["B-singer" if i == start else "I-singer"]
                out.append((text, tags, label))
    rng.shuffle(out)
    return out


def tiny_model(fusion: str, vocab_size: int) -> SlotAwareIntentModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0)
    head = HeadConfig(domains=["chat", "music"], slot_types=["singer"], fusion=fusion, slot_dim=8, attn_dim=16,
                      attn_heads=2, context_heads=2, dropout=0.0)
    return SlotAwareIntentModel(config, head)


def train_tiny(fusion: str) -> float:
    """Held-out accuracy after a short full-batch training run on the gazetteer task."""
    chars = "".join(SINGERS_TRAIN + SINGERS_TEST + NOISE_TRAIN + NOISE_TEST) + "我想听来点播放的"
    tokenizer = build_tokenizer(build_vocab(count_chars([chars]), min_count=1))
    ids = CharIds.from_tokenizer(tokenizer)
    model = tiny_model(fusion, len(tokenizer))
    vocab = SlotTagVocab(["singer"])

    def batch(task: list) -> dict:
        examples = [IntentExample(t, "music" if y else "chat") for t, _, y in task]
        items = encode_examples(examples, [s for _, s, _ in task], ids, vocab, {"chat": 0, "music": 1}, {}, 64,
                                fusion)
        return collate(items)

    train, test = batch(gazetteer_task(SINGERS_TRAIN, NOISE_TRAIN, 0)), batch(gazetteer_task(SINGERS_TEST,
                                                                                           NOISE_TEST, 1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        opt.zero_grad()
        model(**train)["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(**{k: v for k, v in test.items() if k != "domain_labels"})["domain_logits"].argmax(-1)
    return float((pred == test["domain_labels"]).float().mean())


def test_gated_fusion_learns_what_only_the_gazetteer_knows() -> None:
    assert train_tiny("gated") >= 0.95


def test_without_slot_input_the_task_is_a_coin_flip() -> None:
    assert train_tiny("none") <= 0.75


def test_gates_cover_each_character_and_lie_in_0_1(tiny_intent_dir: Path) -> None:
    clf = IntentClassifier.from_pretrained(tiny_intent_dir)
    texts = ["我想听周杰伦的稻香", "你好", "北京到上海的火车"]
    slots = [[[]] * 3 + [["B-singer"], ["I-singer"], ["I-singer"], [], ["B-song"], ["I-song"]], [], None]
    results = clf.predict(texts, [s or [] for s in slots])
    for text, r in zip(texts, results, strict=True):
        assert len(r.gates) == len(text)
        assert all(0.0 < g < 1.0 for g in r.gates)
        assert 0.0 <= r.score <= 1.0 and r.top_k[0] == (r.label, pytest.approx(r.score))
        assert r.label == r.domain or r.label == f"{r.domain}/{r.intent}"


def test_decoding_keeps_the_intent_inside_the_chosen_domain(tiny_intent_dir: Path) -> None:
    clf = IntentClassifier.from_pretrained(tiny_intent_dir)
    dom = np.array([[0.0, 5.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]])      # music, then chat
    intent = np.array([[0.0, 1.0, 9.0], [9.0, 0.0, 0.0]])             # train/QUERY is best, but not music's
    (label, domain, name, score_, top), (label2, *_rest) = clf.decode(dom, intent)
    assert (label, domain, name) == ("music/SEARCH", "music", "SEARCH")
    assert label2 == "chat" and sum(s for _, s in clf.decode(dom, intent, top_k=99)[0][4]) == pytest.approx(1.0)


def test_predicts_long_texts_and_texts_with_unknown_characters(tiny_intent_dir: Path) -> None:
    clf = IntentClassifier.from_pretrained(tiny_intent_dir)
    long_text = "我想听" * 100
    (r,) = clf.predict([long_text], [[]])
    assert len(r.gates) == len(long_text)
    (r2,) = clf.predict(["𠀀😀ＡＢＣ"], None)
    assert r2.label


def test_bad_head_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="fusion"):
        HeadConfig(fusion="concat")
    with pytest.raises(ValueError, match="tag_pool"):
        HeadConfig(tag_pool="sum")


def test_hierarchical_decoding_follows_the_domain_argmax(tiny_intent_dir: Path) -> None:
    """music wins the domain head (0.45) though chat (0.40) beats each single music intent (0.225 each)."""
    clf = IntentClassifier.from_pretrained(tiny_intent_dir)
    p = np.log(np.array([[0.40, 0.45, 0.10, 0.05]]))
    (label, domain, _, score_, top), = clf.decode(p, np.zeros((1, 3)))
    assert domain == "music" and label in ("music/PLAY", "music/SEARCH")
    assert score_ == pytest.approx(0.225, abs=1e-3) and top[0][0] == "chat"
    (label, *_), = clf.decode(p, np.zeros((1, 3)), mode="domain")
    assert label == "music"
    (label, *_), = clf.decode(p, np.array([[0.0, 0.0, 5.0]]), mode="intent")
    assert label == "train/QUERY"
    with pytest.raises(ValueError, match="decode"):
        clf.decode(p, np.zeros((1, 3)), mode="joint")


def test_ngram_bag_round_trips_through_a_checkpoint(tmp_path: Path, tiny_tokenizer) -> None:  # noqa: ANN001
    """With ``ngram_buckets`` the saved model predicts exactly what the in-memory one does."""
    config = BertConfig(vocab_size=len(tiny_tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    head = HeadConfig(domains=["chat", "music"], slot_types=["song"], slot_dim=8, attn_dim=16, attn_heads=2,
                      context_heads=2, ngram_buckets=97, ngram_dim=8)
    model = SlotAwareIntentModel(config, head).eval()
    model.save(tmp_path)
    tiny_tokenizer.save_pretrained(str(tmp_path))
    ids = CharIds.from_tokenizer(tiny_tokenizer)
    live = IntentClassifier(model, ids, 0).predict(["我想听稻香", "你好"], None, top_k=2)
    loaded = IntentClassifier.from_pretrained(tmp_path).predict(["我想听稻香", "你好"], None, top_k=2)
    for a, b in zip(live, loaded, strict=True):
        assert a.label == b.label and a.score == pytest.approx(b.score, abs=2e-3)


# -- entity swap ------------------------------------------------------------------------------------------

from models.intent.augment import entity_spans, swap_entities  # noqa: E402


def test_entity_spans_follow_b_then_i_tags() -> None:
    slots = [[], ["B-singer", "B-song"], ["I-singer", "I-song"], ["I-singer"], [], ["B-song"], ["I-song"]]
    assert entity_spans(slots) == [(1, 4, "singer"), (1, 3, "song"), (5, 7, "song")]


def test_swap_replaces_the_longest_entity_and_keeps_the_label() -> None:
    ex = IntentExample("我想听周杰伦的稻香", "music", "PLAY")
    slots = [[], [], [], ["B-singer"], ["I-singer"], ["I-singer"], [], ["B-song"], ["I-song"]]
    seen: list[list[str]] = []

    def featurize(texts):  # noqa: ANN001, ANN202 - a stand-in for the gazetteer
        seen.append(list(texts))
        return [[[] for _ in t] for t in texts]

    out, out_slots = swap_entities([ex, IntentExample("你好", "chat")], [slots, [[], []]],
                                   {"singer": ["王菲", "周杰伦"], "song": ["晴天"]}, featurize, copies=3, seed=1)
    assert out and all(x.text in ("我想听王菲的稻香",) and x.label == "music/PLAY" for x in out)
    assert seen == [[x.text for x in out]] and len(out_slots) == len(out)  # the new texts are re-tagged


# -- the training command ---------------------------------------------------------------------------------


def test_train_command_writes_a_loadable_checkpoint_with_card(tiny_nlu_data, tiny_tokenizer, tmp_path) -> None:  # noqa: ANN001
    from omegaconf import OmegaConf
    from transformers import BertModel

    from models.intent.train import train
    from models.lexicon.features import featurizer_from_config
    from pipeline.config import load_config

    encoder_dir = tmp_path / "encoder"
    BertModel(BertConfig(vocab_size=len(tiny_tokenizer), num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(str(encoder_dir))
    tiny_tokenizer.save_pretrained(str(encoder_dir))
    overrides = [*tiny_train_overrides(tiny_nlu_data, tmp_path), f"encoder.pretrained={encoder_dir}"]
    cfg = OmegaConf.to_container(load_config("train/intent", overrides), resolve=True)
    cfg["command"] = "duihua train intent (test)"
    featurize, pool = featurizer_from_config(cfg)
    result = train(cfg, featurize, pool)
    out = tmp_path / "out"
    assert {"intent.json", "model.safetensors", "tokenizer.json", "README.md", "train_result.json"} <= {
        p.name for p in out.iterdir()}
    assert result["steps"] == 4 and result["swapped_examples"] > 0   # 稻香/晴天/七里香 swap among themselves
    assert 0 <= result["smp2017_accuracy"] <= 100 and 0 <= result["smp2019_accuracy"] <= 100
    assert "| seed | 42 |" in (out / "README.md").read_text(encoding="utf-8")
    assert {p.name for p in (tmp_path / "dev").iterdir()} == {"smp2017.jsonl", "smp2019.json"}
    (r,) = IntentClassifier.from_pretrained(out).predict(["播放稻香"], featurize(["播放稻香"]))
    assert r.domain in ("chat", "music", "weather") and len(r.gates) == 4
    recorded = json.loads((out / "intent.json").read_text(encoding="utf-8"))["head"]["lexicon_types"]
    assert recorded == sorted(pool) and "singer" in recorded   # every type of its lexicons, seen or not


def test_tag_dropout_removes_whole_spans_at_about_its_rate() -> None:
    from models.intent.augment import drop_tags

    slots = [[["B-song"], ["I-song"], [], ["B-singer"], ["I-singer"]]] * 400
    dropped = drop_tags(slots, 0.3, seed=0)
    kept_song = sum(bool(d[0]) for d in dropped) / len(dropped)
    assert 0.62 < kept_song < 0.78
    for d in dropped:   # a span loses all of its tags or none
        assert bool(d[0]) == bool(d[1]) and bool(d[3]) == bool(d[4])
    assert slots[0][0] == ["B-song"]   # the input is not modified


def test_trains_on_a_hub_style_bert_with_its_own_tokenizer(tiny_nlu_data, hub_style_checkpoint, tmp_path) -> None:  # noqa: ANN001
    """`encoder=hf encoder.pretrained=NAME`: a WordPiece BERT (no [unusedN] of its own) trains unchanged."""
    from omegaconf import OmegaConf

    from models.intent.train import train
    from models.lexicon.features import featurizer_from_config
    from pipeline.config import load_config

    overrides = [*tiny_train_overrides(tiny_nlu_data, tmp_path), "encoder=hf",
                 f"encoder.pretrained={hub_style_checkpoint}", "model.head.fusion=tokens", "trainer.max_steps=2"]
    cfg = OmegaConf.to_container(load_config("train/intent", overrides), resolve=True)
    featurize, pool = featurizer_from_config(cfg)
    assert train(cfg, featurize, pool)["steps"] == 2
    (r,) = IntentClassifier.from_pretrained(tmp_path / "out").predict(["我想听晴天"], featurize(["我想听晴天"]))
    assert r.label
