import pytest
import torch
from transformers import BertModel

from models.common.finetune import apply_finetune
from models.encoder.modeling import bert_config, load_encoder
from pipeline.config import load_config


@pytest.mark.parametrize("name, hidden, layers", [("tiny", 256, 4), ("small", 384, 6)])
def test_encoder_configs_build_models_of_the_documented_shape(name, hidden, layers):
    cfg = load_config("train/pretrain", [f"encoder={name}"])
    model = BertModel(bert_config(cfg.encoder.architecture, vocab_size=50, pad_token_id=0))
    out = model(input_ids=torch.randint(0, 50, (2, 7))).last_hidden_state
    assert out.shape == (2, 7, hidden)
    assert len(model.encoder.layer) == layers


def test_hf_encoder_loads_a_local_checkpoint_with_its_tokenizer(hub_style_checkpoint):
    cfg = load_config("train/pretrain", ["encoder=hf", f"encoder.pretrained={hub_style_checkpoint}"])
    model, tok = load_encoder(cfg.encoder.pretrained)
    assert tok.tokenize("你好北京") == ["你", "好", "北", "京"]  # the checkpoint's own WordPiece vocab
    assert tok.convert_tokens_to_ids("[FINE]") == 18  # appended after the 18-token vocab
    assert model.get_input_embeddings().num_embeddings == len(tok) == 18 + 102
    enc = tok("[COARSE]你好", return_tensors="pt")
    assert model(**enc).last_hidden_state.shape == (1, 5, 32)


def test_hf_encoder_requires_a_checkpoint_name():
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="pretrained"):
        load_config("train/pretrain", ["encoder=hf"])


def test_bitfit_and_freeze_layers_select_the_trainable_parameters():
    encoder = BertModel(bert_config({"num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 2,
                                     "intermediate_size": 32}, vocab_size=30, pad_token_id=0))
    model = torch.nn.ModuleDict({"encoder": encoder, "head": torch.nn.Linear(16, 3)})
    apply_finetune(model, encoder, "bitfit")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith("bias") or n.startswith("head.") for n in trainable)
    assert {"head.weight", "head.bias"} <= trainable
    apply_finetune(model, encoder, "full", freeze_layers=1)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("encoder.embeddings") for n in frozen)
    assert any(".layer.0." in n for n in frozen) and not any(".layer.1." in n for n in frozen)
    with pytest.raises(ValueError, match="freeze_layers=5"):
        apply_finetune(model, encoder, "full", freeze_layers=5)


def test_shipped_encoder_loads_with_its_tokenizer_and_card():
    from pipeline.config import ROOT

    folder = ROOT / "checkpoints" / "encoder-tiny"
    model, tok = load_encoder(folder)
    assert model.config.num_hidden_layers == 4 and model.config.hidden_size == 256
    assert len(tok) == model.get_input_embeddings().num_embeddings
    enc = tok("[FINE]我想听周杰伦的稻香", return_tensors="pt")
    assert tok.convert_ids_to_tokens(enc["input_ids"][0])[:3] == ["[CLS]", "[FINE]", "我"]
    assert model(**enc).last_hidden_state.shape == (1, 12, 256)
    size_mb = (folder / "model.safetensors").stat().st_size / 1e6
    assert size_mb <= 20  # the budget for the shipped encoder
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "duihua train pretrain" in card and "held-out MLM accuracy" in card


@pytest.mark.parametrize("overrides, trainable_prefix", [
    ([], "encoder.embeddings"),
    (["finetune.method=bitfit"], "head."),
    (["finetune.freeze_layers=1"], "encoder.encoder.layer.1"),
])
def test_finetune_config_group_drives_apply_finetune(overrides, trainable_prefix):
    cfg = load_config("pipeline", ["+finetune=default", *overrides]).finetune  # as a stage config includes it
    encoder = BertModel(bert_config({"num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 2,
                                     "intermediate_size": 32}, vocab_size=30, pad_token_id=0))
    model = torch.nn.ModuleDict({"encoder": encoder, "head": torch.nn.Linear(16, 3)})
    counts = apply_finetune(model, encoder, cfg.method, cfg.freeze_layers)
    assert any(n.startswith(trainable_prefix) for n, p in model.named_parameters() if p.requires_grad)
    assert 0 < counts["trainable"] <= counts["total"]
