"""Intent distillation: the soft-label loss, the ensemble, and ``duihua train intent-distill`` end to end on a
miniature data folder (tiny models, a few steps: wiring, not quality)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from models.intent.inference import IntentClassifier
from models.intent.modeling import HeadConfig, SlotAwareIntentModel
from tests.models.conftest import tiny_train_overrides

VOCAB = 40


def small_model(soft_weight: float) -> SlotAwareIntentModel:
    torch.manual_seed(0)
    encoder = BertConfig(vocab_size=VOCAB, num_hidden_layers=1, hidden_size=16, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=32)
    head = HeadConfig(domains=["a", "b", "c"], intents=["a/X", "a/Y"], slot_types=["s"], slot_dim=4, attn_dim=8,
                      attn_heads=2, context_heads=2, dropout=0.0, soft_weight=soft_weight)
    return SlotAwareIntentModel(encoder, head).eval()


def batch() -> dict[str, torch.Tensor]:
    ids = torch.randint(5, VOCAB, (4, 6), generator=torch.Generator().manual_seed(1))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
            "slot_types": torch.ones((4, 6, 3), dtype=torch.long), "slot_positions": torch.zeros((4, 6, 3),
                                                                                                 dtype=torch.long)}


def test_one_hot_soft_labels_give_the_hard_loss_and_soft_weight_mixes_them() -> None:
    domains, intents = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 1, 0, 1])
    one_hot = (torch.eye(3)[domains], torch.eye(2)[intents])
    hard = small_model(0.0)(**batch(), domain_labels=domains, intent_labels=intents)["loss"]
    soft = small_model(1.0)(**batch(), domain_labels=domains, intent_labels=intents, domain_soft=one_hot[0],
                            intent_soft=one_hot[1])["loss"]
    assert torch.allclose(hard, soft, atol=1e-5)
    uniform = (torch.full((4, 3), 1 / 3), torch.full((4, 2), 1 / 2))
    half = small_model(0.5)(**batch(), domain_labels=domains, intent_labels=intents, domain_soft=uniform[0],
                            intent_soft=uniform[1])["loss"]
    model = small_model(0.5)
    out = model(**batch())
    expected = 0.5 * model.loss(out, domains, intents) + 0.5 * model.soft_loss(out, *uniform)
    assert torch.allclose(half, expected, atol=1e-5) and not torch.allclose(half, hard)


def test_ensemble_of_one_decodes_like_its_member(tiny_intent_dir: Path) -> None:
    from models.intent.distill import IntentEnsemble

    clf = IntentClassifier.from_pretrained(tiny_intent_dir)
    texts = ["我想听稻香", "北京南站"]
    ens = IntentEnsemble([clf, IntentClassifier.from_pretrained(tiny_intent_dir)])
    for mode in ("hierarchical", "domain", "intent"):
        assert [r.label for r in ens.predict(texts, None, mode=mode)] == \
            [r.label for r in clf.predict(texts, None, mode=mode)]
    (dom, intent), _ = ens.soft_labels(texts, [[], []])
    assert dom.shape == (4,) and intent.shape == (3,) and np.isclose(dom.sum(), 1) and np.isclose(intent.sum(), 1)


@pytest.mark.slow
def test_distill_command_trains_teachers_once_and_a_smaller_student(tiny_nlu_data, tiny_tokenizer,
                                                                     tmp_path) -> None:  # noqa: ANN001
    from omegaconf import OmegaConf

    from models.intent.distill import distill_from_config as train
    from pipeline.config import load_config

    encoder_dir = tmp_path / "encoder"
    BertModel(BertConfig(vocab_size=len(tiny_tokenizer), num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(str(encoder_dir))
    tiny_tokenizer.save_pretrained(str(encoder_dir))
    overrides = [*tiny_train_overrides(tiny_nlu_data, tmp_path), f"encoder.pretrained={encoder_dir}",
                 f"distill.teachers_dir={tmp_path / 'teachers'}", "model.encoder_layers=1"]
    cfg = OmegaConf.to_container(load_config("train/intent-distill", overrides), resolve=True)
    cfg["command"] = "duihua train intent-distill (test)"
    metrics = train(cfg)
    student = tmp_path / "out"
    result = json.loads((student / "train_result.json").read_text(encoding="utf-8"))
    assert set(result["comparison"]) == {"teacher t0", "teacher t1", "teacher t2", "ensemble", "student"}
    assert [t["seed"] for t in result["teachers"]] == [1, 2, 3]
    assert set(metrics) >= {"smp2017_student_vs_ensemble", "smp2019_ensemble_accuracy"}
    assert json.loads((student / "intent.json").read_text())["encoder"]["num_hidden_layers"] == 1
    assert json.loads((tmp_path / "teachers" / "t0" / "intent.json").read_text())["encoder"]["num_hidden_layers"] == 2
    card = (student / "README.md").read_text(encoding="utf-8")
    assert "duihua train intent-distill" in card and "| ensemble |" in card and "share of the ensemble" in card
    weights = tmp_path / "teachers" / "t1" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    train(cfg)   # a second run reuses the finished teachers (and their soft labels)
    assert weights.stat().st_mtime_ns == before


def test_distill_needs_an_ensemble(tiny_nlu_data, tmp_path) -> None:  # noqa: ANN001, F811
    from omegaconf import OmegaConf

    from models.common.errors import TrainConfigError
    from models.intent.distill import distill_from_config as train
    from pipeline.config import load_config

    overrides = [*tiny_train_overrides(tiny_nlu_data, tmp_path), "distill.teachers=[{seed:1}]"]
    with pytest.raises(TrainConfigError, match="at least 2 teachers"):
        train(OmegaConf.to_container(load_config("train/intent-distill", overrides), resolve=True))
