"""Write ``README.md`` for a segmenter checkpoint: data, command, seed, time, dev metrics."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEV_NAMES = {"pku_fine": "PKU fine (held-out January documents)", "msr": "MSR coarse (last 870 lines of the slice)",
             "pku_coarse": "PKU coarse view (held-out January documents)"}


def dev_table(dev: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| dev set | granularity | sentences | P | R | F1 | OOV recall | chars/s (fp32, batched) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in dev.items():
        oov = "–" if m.get("oov_recall") is None else f"{m['oov_recall']:.2f}"
        lines.append(f"| {DEV_NAMES.get(name, name)} | {m['granularity']} | {m['sentences']:,} | {m['precision']:.2f} "
                     f"| {m['recall']:.2f} | **{m['f1']:.2f}** | {oov} | {m['chars_per_s']:,} |")
    return "\n".join(lines)


def write_model_card(folder: Path, cfg: Mapping[str, Any], result: Mapping[str, Any], extra: str = "") -> None:
    model, trainer, data = cfg["model"], cfg["trainer"], cfg["data"]
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e6
    views = ", ".join(f"{k} ×{v}" for k, v in dict(data["views"]).items())
    text = f"""# duihua segmenter

One B/M/E/S tagger for two segmentation standards: the input starts with `[FINE]` (PKU standard) or
`[COARSE]` (MSR standard). Encoder: the lowest {model.get('encoder_layers') or 'all'} layers of
`{cfg['encoder']['pretrained']}`; character-bigram embeddings ({result['bigrams']:,} bigrams × {model['bigram_dim']})
fused with the encoder output; {model['mha_heads']}-head self-attention layer; MLP decoder; auxiliary granularity
classifier on [CLS] (loss weight {model['aux_weight']}); Viterbi decoding over the B/M/E/S grammar.

| | |
|---|---|
| weights | fp16 safetensors, {size_mb:.1f} MB |
| data | `../shared/data/cws`: {views}; {result['train_examples']:,} training examples, {result['train_chars']:,} characters per epoch |
| coarse view rules | {', '.join(data['coarse_rules'])} (`models/segmenter/corpus.py`) |
| optimisation | {result['steps']:,} steps, batch {trainer['per_device_train_batch_size']}, lr {trainer['learning_rate']}, {trainer.get('lr_scheduler_type', 'linear')} decay, {trainer.get('num_train_epochs')} epochs |
| seed | {cfg['seed']} |
| wall time | {result['wall_s'] / 60:.1f} min in all, {result['train_runtime_s'] / 60:.1f} min training (2 CPU cores) |

## Dev scores (exported fp16 checkpoint, scored like `duihua eval segment`; OOV = not in the training words)

{dev_table(result['dev'])}

## Command

```bash
{cfg.get('command', 'duihua train segmenter')}
```
{extra}
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
