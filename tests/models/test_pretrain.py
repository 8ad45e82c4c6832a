"""Pre-training on the tiny shipped text: masking, learning, resume, and a 2-rank torchrun run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from transformers import TrainerCallback

from models.encoder.modeling import load_encoder
from models.encoder.pretrain import WholeWordMaskCollator, train
from pipeline.config import load_config
from tests.conftest import DATA
from tests.models.conftest import TINY_ARCH

ROOT = Path(__file__).resolve().parents[2]


def tiny_overrides(tmp: Path, *extra: str) -> list[str]:
    arch = [f"encoder.architecture.{k}={v}" for k, v in TINY_ARCH.items()]
    return [
        "data.sources=[]", f"data.files=[{DATA / 'pretrain_tiny.txt'}]", "data.heldout_percent=10",
        "tokenizer.min_count=1", f"output_dir={tmp / 'out'}", f"work_dir={tmp / 'work'}", *arch,
        "trainer.per_device_train_batch_size=8", "trainer.per_device_eval_batch_size=16",
        "trainer.learning_rate=3e-3", "trainer.logging_steps=2", "trainer.eval_steps=4", "trainer.save_steps=4",
        *extra,
    ]


def tiny_cfg(tmp: Path, *extra: str) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(load_config("train/pretrain", tiny_overrides(tmp, *extra)), resolve=True)


def test_whole_word_masking_labels_every_character_of_a_chosen_word(tiny_tokenizer):
    collator = WholeWordMaskCollator(tiny_tokenizer, probability=0.3, seed=1)
    ids = np.arange(20, 40, dtype=np.int32)
    word_ids = np.repeat(np.arange(8), [3, 2, 3, 2, 3, 2, 3, 2]).astype(np.int32)
    for seed in range(20):
        collator.rng.seed(seed)
        _, labels = collator.mask_example(ids, word_ids, collator.rng)
        labelled = np.array(labels) != -100
        for w in range(8):
            assert labelled[word_ids == w].all() or not labelled[word_ids == w].any()
        assert 0 < labelled.sum() <= 0.3 * 20 + 3
    batch = collator([{"input_ids": ids[:5], "word_ids": word_ids[:5]}, {"input_ids": ids, "word_ids": word_ids}])
    assert batch["input_ids"].shape == (2, 22) and batch["attention_mask"][0].sum() == 7
    assert batch["input_ids"][0, 0] == tiny_tokenizer.cls_token_id and batch["labels"][0, 0] == -100


def test_tiny_model_learns_and_exports_a_loadable_checkpoint(tmp_path):
    result = train(tiny_cfg(tmp_path, "trainer.max_steps=40", "trainer.learning_rate=1e-2",
                            "trainer.warmup_steps=0.1", "trainer.eval_steps=40", "trainer.save_steps=40"))
    assert result["steps"] == 40
    logs = [json.loads(line) for line in (tmp_path / "work" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs if "loss" in r]
    # starts at chance (ln |V|) and falls: the model learns the 20 repeated sentences
    assert losses[0] > math.log(result["vocab_size"]) - 0.2
    assert sum(losses[-5:]) / 5 < losses[0] - 0.5
    # held-out lines are never seen (split by text hash), so only check the metrics are reported
    assert math.isfinite(result["eval_loss"]) and 0.0 <= result["mlm_accuracy"] <= 1.0
    model, tok = load_encoder(tmp_path / "out")
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert f"| held-out MLM accuracy | **{result['mlm_accuracy']:.4f}** |" in card
    assert "duihua train pretrain" in card and "| seed | 42 |" in card
    assert model(**tok("[FINE]明天", return_tensors="pt")).last_hidden_state.shape == (1, 5, 32)


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True


def test_resume_after_interruption_reaches_the_same_final_step(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=12")
    first = train(cfg, callbacks=[StopAt(6)])
    assert first["steps"] == 6
    assert (tmp_path / "work" / "checkpoint-6").is_dir()
    second = train(cfg)
    assert second["steps"] == 12
    steps = [json.loads(line)["step"] for line in (tmp_path / "work" / "metrics.jsonl").read_text().splitlines()]
    assert 6 in steps and max(steps) == 12 and min(s for s in steps if s > 6) == 8  # continued, not restarted


def test_two_rank_torchrun_on_cpu(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
           "-m", "pipeline.cli", "train", "pretrain", *tiny_overrides(tmp_path, "trainer.max_steps=4")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert metrics["steps"] == 4
    assert (tmp_path / "out" / "model.safetensors").is_file()


@pytest.mark.parametrize("bad, message", [("data.sources=[wiki]", "unknown ['wiki']"),
                                          ("data.files=[/no/such.txt]", "/no/such.txt")])
def test_bad_data_settings_fail_clearly(tmp_path, bad, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message.replace("[", r"\[")):
        train(tiny_cfg(tmp_path, bad))


def test_same_config_and_seed_reproduce_the_run(tmp_path):
    """The shipped encoder's reproducibility claim, at test scale: same command + seed -> same numbers."""
    runs = [train(tiny_cfg(tmp_path / str(i), "trainer.max_steps=8", "trainer.eval_steps=8",
                           "trainer.save_steps=8")) for i in range(2)]
    assert runs[0]["eval_loss"] == runs[1]["eval_loss"]
    assert runs[0]["mlm_accuracy"] == runs[1]["mlm_accuracy"]
