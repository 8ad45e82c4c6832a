"""Write ``README.md`` for a pre-trained encoder folder: data, command, seed, time, metrics, loss curve."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _curve_table(curve: list[dict], rows: int = 12) -> str:
    train = [c for c in curve if "loss" in c]
    evals = list({c["step"]: c for c in curve if "eval_loss" in c}.values())  # the final evaluate() repeats a step
    step = max(1, len(train) // rows)
    lines = ["| step | train loss |", "|---|---|"]
    lines += [f"| {c['step']} | {c['loss']:.3f} |" for c in train[::step]]
    lines += ["", "| step | held-out loss | held-out MLM accuracy |", "|---|---|---|"]
    lines += [f"| {c['step']} | {c['eval_loss']:.3f} | {c.get('eval_mlm_accuracy', float('nan')):.4f} |"
              for c in evals]
    return "\n".join(lines)


def plot_loss_curve(curve: list[dict], path: Path) -> bool:
    """Write a PNG of train/held-out loss if matplotlib is installed (``pip install -e '.[plots]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    train = [(c["step"], c["loss"]) for c in curve if "loss" in c]
    evals = sorted({c["step"]: c["eval_loss"] for c in curve if "eval_loss" in c}.items())
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", linewidth=1)
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="held-out loss")
    ax.set_xlabel("step")
    ax.set_ylabel("MLM loss (nats)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_model_card(folder: Path, cfg: Mapping[str, Any], result: Mapping[str, Any], curve: list[dict]) -> None:
    arch = cfg["encoder"]["architecture"]
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e6
    trainer = cfg["trainer"]
    has_png = plot_loss_curve(curve, folder / "loss_curve.png")
    picture = "![loss curve](loss_curve.png)\n\n" if has_png else ""
    text = f"""# duihua encoder-{cfg['encoder']['name']}

A small Chinese BERT pre-trained by duihua with whole-word-masked language modelling, on CPU, from the
text in `../shared/data`. Character-level vocabulary ({result['vocab_size']:,} tokens, including [FINE],
[COARSE] and [unused0..99]); the tokenizer normalizes full-width ASCII, U+3000 and Latin case
(`models/normalization.py`).

| | |
|---|---|
| architecture | BERT, {arch['num_hidden_layers']} layers, hidden {arch['hidden_size']}, {arch['num_attention_heads']} heads, FFN {arch['intermediate_size']}, max {arch['max_position_embeddings']} positions |
| weights | fp16 safetensors, {size_mb:.1f} MB (MLM head included, tied to the input embeddings) |
| data | {', '.join(cfg['data']['sources'])}: {result['examples']:,} lines, {result['train_tokens']:,} training characters; {cfg['data']['heldout_percent']}% held out by text hash ({result['heldout_examples']:,} lines) |
| masking | whole-word, {cfg['mlm']['probability']:.0%} of characters (80/10/10); gold words for PKU/SXU, jieba elsewhere |
| optimisation | {result['steps']:,} steps, batch {trainer['per_device_train_batch_size']}, lr {trainer['learning_rate']}, warmup {trainer.get('warmup_steps', 0)}, {trainer.get('lr_scheduler_type', 'linear')} decay, weight decay {trainer.get('weight_decay', 0)} |
| seed | {cfg['seed']} |
| wall time | {result['wall_s'] / 60:.1f} min in all, {result['train_runtime_s'] / 60:.1f} min training ({result['tokens_per_s']:,.0f} tokens/s) |
| held-out MLM accuracy | **{result['mlm_accuracy']:.4f}** |
| held-out perplexity | {result['perplexity']:.2f} (loss {result['eval_loss']:.4f}) |

## Command

```bash
{cfg.get('command', 'duihua train pretrain')}
```

## Data and licences

People's Daily 1998 (PKU), SIGHAN 2008 SXU: research only. SMP2017/SMP2019: licence not stated. CrossWOZ:
Apache-2.0. LCCC, subtitles: MIT; chatterbot: BSD-3-Clause. Because of the research-only corpora, this
checkpoint is for research use. SMP2017 `develop.jsonl` is excluded (it is the downstream dev set); official
test sets are not available here at all.

## Loss curve

{picture}Full history: `loss_curve.json`; all logged records: the run's `metrics.jsonl`.

{_curve_table(curve)}
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
