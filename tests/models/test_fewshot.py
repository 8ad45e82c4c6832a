"""Parameter-efficient and few-shot training: what trains, what is stored, how it reloads, and the errors.

A 1-layer, 32-wide masked LM on the test queries' characters stands in for the encoder; the checks are about
mechanics (frozen stays frozen, deltas compose back exactly), not quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import BertConfig, BertForMaskedLM

from models.common.char_ids import CharIds
from models.common.delta import read_delta_config, save_delta, stored_bytes
from models.common.errors import TrainConfigError
from models.common.finetune import FinetuneConfigError, apply_finetune
from models.common.simple_training import train_steps
from models.fewshot.cloze import PatternError, parse_pattern, verbalizer_ids
from models.fewshot.methods import (
    build_cloze,
    cloze_knobs,
    load_fewshot,
    load_fp32,
    run_method,
    train_classifier,
)
from models.fewshot.text_classifier import encode_text_ids
from models.intent.data import IntentExample
from models.intent.shots import sample_shots
from models.tokenization import build_tokenizer, build_vocab, count_chars
from pipeline.config import ROOT
from tests.conftest import DATA
from tests.models.conftest import TINY_ARCH

LABELS = ["music", "train", "weather"]
TEXTS = ["我想听周杰伦的稻香", "明天北京到上海的火车", "北京明天天气怎么样", "放一首歌", "查一下高铁票", "会下雨吗"]
TARGETS = ["music", "train", "weather", "music", "train", "weather"]


def finetune_cfg(**changes) -> dict:
    """conf/finetune/default.yaml with a tiny schedule (a few steps, a large learning rate)."""
    cfg = yaml.safe_load((ROOT / "conf" / "finetune" / "default.yaml").read_text(encoding="utf-8"))
    cfg["small_data"].update({"batch_size": 4, "epochs": 2, "max_steps": 3, "learning_rate": 1e-2})
    cfg["learning_rate"] = {k: None for k in cfg["learning_rate"]}
    cfg["pet"]["patterns"] = cfg["pet"]["patterns"][:2]
    cfg["prompt_tokens"] = 2
    cfg["adapter_size"] = 4
    cfg.update(changes)
    return cfg


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random masked LM with a tokenizer covering the test texts, the patterns and the label words."""
    cfg = finetune_cfg()
    lines = (DATA / "pretrain_tiny.txt").read_text(encoding="utf-8").splitlines()
    extra = [*TEXTS, *cfg["pet"]["patterns"], *cfg["pet"]["verbalizer"].values()]
    tokenizer = build_tokenizer(build_vocab(count_chars([*lines, *extra]), min_count=1))
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-mlm")
    BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), **TINY_ARCH)).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("method", ["full", "freeze", "bitfit", "adapter", "ptuning"])
def test_classifier_trains_exactly_the_parameters_its_method_names(tiny_mlm, method):
    from models.fewshot.text_classifier import TextClassifier

    encoder, tokenizer = load_fp32(tiny_mlm)
    model = TextClassifier(encoder, len(LABELS))
    counts = apply_finetune(model, model.encoder, method, prompt_tokens=2, adapter_size=4)
    before = snapshot(model)
    char_ids = CharIds.from_tokenizer(tokenizer)
    items = [(encode_text_ids(t, char_ids), LABELS.index(y)) for t, y in zip(TEXTS, TARGETS, strict=True)]
    train_steps(model, items, lambda m, b: m.loss([r for r, _ in b], torch.tensor([y for _, y in b])), 3, 1e-2,
                batch_size=3)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert changed and changed <= trainable, f"frozen parameters changed: {sorted(changed - trainable)[:3]}"
    assert "head.weight" in changed
    if method == "full":
        assert counts["trainable"] == counts["total"]
    else:
        assert counts["trainable"] < counts["total"]
        assert not any(n.startswith("encoder.embeddings.word") for n in changed)
    if method == "adapter":
        assert all(".adapter." in n or n.startswith("head.") for n in changed)
    if method == "ptuning":
        assert changed == {"encoder.prompt.embeddings", "head.weight", "head.bias"}


@pytest.mark.parametrize("method, tune", [("ptuning", None), ("pet", "bitfit"), ("pet", "adapter")])
def test_cloze_training_keeps_the_frozen_encoder_and_mlm_head_unchanged(tiny_mlm, method, tune):
    cfg = finetune_cfg(mlm_weight=0.5)
    if tune:
        cfg["pet"]["tune"] = tune
    model = build_cloze(cfg, method, tiny_mlm, cfg["pet"]["patterns"][0], LABELS)
    before = snapshot(model)
    items = [(*model.encode(t), LABELS.index(y)) for t, y in zip(TEXTS, TARGETS, strict=True)]
    import random

    rng = random.Random(0)
    train_steps(model, items, lambda m, b: m.loss(b, 0.5, rng), 3, 1e-2, batch_size=3)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert changed and changed <= trainable
    if method == "ptuning":
        assert changed == {"mlm.bert.prompt.embeddings"}   # the MLM head is frozen too
    assert "mlm.bert.embeddings.word_embeddings.weight" not in changed


@pytest.mark.parametrize("method", ["bitfit", "adapter", "ptuning", "pet"])
def test_saved_deltas_reload_to_identical_predictions(tiny_mlm, tmp_path, method):
    cfg = finetune_cfg(reparam="mlp")
    run = run_method(cfg, method, tiny_mlm, TEXTS, TARGETS, TEXTS, LABELS, seed=3, out_dir=tmp_path)
    folders = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(folders) == (2 if method == "pet" else 1)   # one per pattern
    assert run.stored_bytes == sum(stored_bytes(f) for f in folders)
    reloaded = [load_fewshot(f) for f in folders]
    if method in ("pet", "ptuning"):
        probs = np.mean([m.probabilities(TEXTS) for m in reloaded], axis=0)
    else:
        char_ids = CharIds.from_tokenizer(load_fp32(tiny_mlm)[1])
        probs = reloaded[0].probabilities([encode_text_ids(t, char_ids) for t in TEXTS])
    # fp16 storage: the same predictions, scores equal to fp16 precision
    np.testing.assert_allclose(probs, run.probabilities, atol=2e-3)
    assert (probs.argmax(1) == run.probabilities.argmax(1)).all()
    config = read_delta_config(folders[0])
    assert config["base"]["sha256"] and config["finetune"]["reparam"] == "none"   # the MLP is baked in


def test_delta_stores_only_trained_parameters_and_refuses_a_changed_base(tiny_mlm, tmp_path):
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_mlm, base)
    model, _ = train_classifier(finetune_cfg(), "bitfit", base, TEXTS, [LABELS.index(y) for y in TARGETS],
                                len(LABELS), seed=1)
    size = save_delta(model, tmp_path / "delta", base, "bitfit", {"method": "bitfit"},
                      {"kind": "classifier", "labels": LABELS}, fp16=False)
    total = sum(p.numel() for p in model.parameters())
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trained < total / 5 and size < 4 * total / 5   # fp32 bytes of the trained share, plus JSON
    again = load_fewshot(tmp_path / "delta")
    for name, p in model.named_parameters():
        assert torch.equal(p, dict(again.named_parameters())[name]), name
    BertForMaskedLM(BertConfig(vocab_size=model.encoder.config.vocab_size, **TINY_ARCH)).save_pretrained(str(base))
    with pytest.raises(TrainConfigError, match="has changed"):
        load_fewshot(tmp_path / "delta")


def test_intent_checkpoint_saved_as_delta_composes_with_its_base(tiny_mlm, tmp_path):
    from models.intent.modeling import HeadConfig, SlotAwareIntentModel, build_model

    encoder, _ = load_fp32(tiny_mlm)
    head = HeadConfig(domains=LABELS, intents=["music/PLAY"], slot_types=["city"], slot_dim=8, attn_dim=16,
                      attn_heads=2, context_heads=2)
    model = build_model(encoder, head)
    model.finetune = {"method": "adapter", "adapter_size": 4}
    apply_finetune(model, model.encoder, **model.finetune)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".adapter." in n:
                p.normal_(0, 0.5)
    model.eval()
    model.save(tmp_path / "intent", fp16=False, delta_base=tiny_mlm)
    full_size = sum(p.numel() for p in model.parameters()) * 4
    assert (tmp_path / "intent" / "model.safetensors").stat().st_size < full_size
    again = SlotAwareIntentModel.load(tmp_path / "intent")
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    mask = torch.ones_like(ids)
    types = torch.ones((1, 5, head.max_tags), dtype=torch.long)
    pos = torch.zeros_like(types)
    a = model(ids, mask, types, pos)["domain_logits"]
    b = again(ids, mask, types, pos)["domain_logits"]
    assert torch.equal(a, b)


def test_shots_are_k_per_class_seeded_and_the_rest_is_unlabeled():
    examples = [IntentExample(f"{label}{i}", label) for label in ("a", "b", "c") for i in range(12)]
    labelled, unlabeled = sample_shots(examples, 5, seed=7)
    assert sorted(x.label for x in labelled) == ["a"] * 5 + ["b"] * 5 + ["c"] * 5
    assert sample_shots(examples, 5, seed=7) == (labelled, unlabeled)
    assert sample_shots(examples, 5, seed=8)[0] != labelled
    assert len(unlabeled) == 36 - 15 and not {x.text for x in labelled} & set(unlabeled)
    assert all(isinstance(t, str) for t in unlabeled)   # texts only: no labels leak
    few = examples[:3]   # class a with 3 < K examples keeps all of them
    assert len(sample_shots(few, 5, seed=1)[0]) == 3
    with pytest.raises(TrainConfigError, match="data.shots"):
        sample_shots(examples, 0, seed=1)


@pytest.mark.parametrize("pattern, message", [
    ("[MASK][MASK]类请求", "exactly one {query}"),
    ("{query}{query}[MASK]", "exactly one {query}"),
    ("请求：{query}", r"at least one \[MASK\]"),
    ("[MASK][MASK]类☃：{query}", "'☃' is not in the encoder's vocabulary"),
])
def test_bad_patterns_are_named_in_the_error(tiny_mlm, pattern, message):
    char_ids = CharIds.from_tokenizer(load_fp32(tiny_mlm)[1])
    with pytest.raises(PatternError, match=message):
        parse_pattern(pattern, char_ids)


@pytest.mark.parametrize("verbalizer, message", [
    ({"music": "音乐", "train": "火车"}, r"no label word for \['weather'\]"),
    ({"music": "音乐", "train": "火车", "weather": "天"}, "weather='天': 1 characters, but the pattern"),
    ({"music": "音乐", "train": "音乐", "weather": "天气"}, "share the word"),
    ({"music": "音乐", "train": "火车", "weather": "天☃"}, "'☃' is not in the encoder's vocabulary"),
])
def test_bad_verbalizers_are_named_in_the_error(tiny_mlm, verbalizer, message):
    char_ids = CharIds.from_tokenizer(load_fp32(tiny_mlm)[1])
    with pytest.raises(PatternError, match=message):
        verbalizer_ids(verbalizer, LABELS, 2, char_ids, "[MASK][MASK]：{query}")


def test_cloze_knobs_follow_the_method():
    cfg = finetune_cfg()
    assert cloze_knobs(cfg, "ptuning")["method"] == "ptuning"
    assert cloze_knobs({**cfg, "pet": {**cfg["pet"], "tune": "bitfit"}}, "pet")["method"] == "bitfit"


@pytest.mark.parametrize("overrides, message", [
    (["finetune.method=lora"], "finetune.method: expected one of full, freeze, bitfit, adapter, ptuning, pet"),
    (["finetune.adapter_size=0"], "finetune.adapter_size must be >= 1"),
    (["finetune.method=ptuning", "finetune.reparam=lstm"], "finetune.reparam"),
    (["finetune.method=pet"], "duihua train intent-fewshot finetune.method=pet"),
    (["finetune.method=ptuning"], "duihua train intent-fewshot finetune.method=ptuning"),
    (["data.shots=0"], "data.shots must be >= 1"),
])
def test_bad_finetune_options_fail_before_training_with_the_key_named(overrides, message):
    from omegaconf import OmegaConf

    from models.intent.train import check_config
    from pipeline.config import load_config

    cfg = OmegaConf.to_container(load_config("train/intent", overrides), resolve=True)
    with pytest.raises(TrainConfigError, match=message):
        check_config(cfg)


def test_pet_is_refused_by_apply_finetune_with_a_pointer():
    from transformers import BertModel

    encoder = BertModel(BertConfig(vocab_size=30, **TINY_ARCH))
    with pytest.raises(FinetuneConfigError, match="cloze model"):
        apply_finetune(torch.nn.ModuleDict({"encoder": encoder}), encoder, "pet")


@pytest.mark.parametrize("method", ["adapter", "ptuning"])
def test_other_stages_replay_the_method_when_loading_their_checkpoint(tmp_path, method):
    from models.splitter.modeling import HeadConfig, SplitterModel

    torch.manual_seed(0)
    model = SplitterModel(BertConfig(vocab_size=120, **TINY_ARCH), HeadConfig(n_bigrams=10, bigram_dim=8, mlp_dim=16))
    model.finetune = {"method": method, "adapter_size": 4, "prompt_tokens": 2}
    apply_finetune(model, model.encoder, **model.finetune)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".adapter." in n or ".prompt." in n:
                p.normal_(0, 0.5)
    model.eval().save(tmp_path, fp16=False)
    again = SplitterModel.load(tmp_path)
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    h = model.encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert h.shape == (1, 5, 32)   # prompt positions are dropped again
    assert torch.equal(h, again.encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state)


def test_train_intent_fewshot_writes_one_delta_per_pattern_and_refuses_other_methods(tiny_mlm, tiny_nlu_data,
                                                                                      tmp_path):
    """``duihua train intent-fewshot`` end to end on miniature SMP2017 data: K shots per domain, one stored
    delta per cloze pattern, dev accuracy recorded; a method that is not a cloze method is refused in one line."""
    import json

    from omegaconf import OmegaConf

    from models.fewshot.train import train_from_config
    from pipeline.config import load_config
    from pipeline.tasks import trainer

    tiny = finetune_cfg()
    overrides = [f"data.dir={tiny_nlu_data}", f"encoder.pretrained={tiny_mlm}", f"output_dir={tmp_path / 'out'}",
                 "data.shots=1", "finetune.pet.patterns=" + json.dumps(tiny["pet"]["patterns"], ensure_ascii=False),
                 *(f"finetune.small_data.{k}={v}" for k, v in tiny["small_data"].items())]
    cfg = OmegaConf.to_container(load_config("train/intent-fewshot", overrides), resolve=True)
    assert trainer("intent-fewshot") is train_from_config
    result = train_from_config(cfg)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pet-0", "pet-1", "train_result.json"]
    assert result["train_examples"] == 3 and result["dev_examples"] == 3 and 0 <= result["smp2017_accuracy"] <= 100
    assert load_fewshot(tmp_path / "out" / "pet-0").probabilities(["北京天气"]).shape == (1, 3)
    with pytest.raises(TrainConfigError, match="intent-fewshot trains pet or ptuning"):
        train_from_config({**cfg, "finetune": {**cfg["finetune"], "method": "adapter"}})
