"""Write ``README.md`` for a segmenter checkpoint: data, command, seed, time, dev metrics."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.common.cards import relative_path

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
    encoder = relative_path(str(cfg["encoder"]["pretrained"]), cfg.get("paths", {}).get("root"))
    head_lr = trainer.get("head_learning_rate") or trainer["learning_rate"]
    mha = f"a {model['mha_heads']}-head self-attention layer" if model["mha_heads"] else "no extra self-attention layer"
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e6
    views = ", ".join(f"{k} ×{v}" for k, v in dict(data["views"]).items())
    wordhood = wordhood_section(cfg, result)
    text = f"""# duihua segmenter

One B/M/E/S tagger for two segmentation standards: the input starts with `[FINE]` (PKU standard) or
`[COARSE]` (MSR standard). Encoder: the lowest {model.get('encoder_layers') or 'all'} layers of
`{encoder}`; character-bigram embeddings ({result['bigrams']:,} bigrams × {model['bigram_dim']})
fused with the encoder output; {wordhood['summary']}; {mha}; MLP decoder; auxiliary granularity
classifier on [CLS] (loss weight {model['aux_weight']}); decoding that always yields a valid B/M/E/S
sequence (the argmax where it is valid, Viterbi over the allowed transitions elsewhere).

| | |
|---|---|
| weights | fp16 safetensors, {size_mb:.1f} MB |
| data | `../shared/data/cws`: {views}; {result['train_examples']:,} training examples, {result['train_chars']:,} characters per epoch |
| coarse view rules | {', '.join(data['coarse_rules'])} (`models/segmenter/corpus.py`) |
| optimisation | {result['steps']:,} steps, batch {trainer['per_device_train_batch_size']}, lr {trainer['learning_rate']} (encoder) / {head_lr} (bigrams and head), warmup {trainer.get('warmup_steps', 0)}, {trainer.get('lr_scheduler_type', 'linear')} decay, {trainer.get('num_train_epochs')} epochs, bf16 autocast on CPU: {bool(trainer.get('cpu_bf16'))} |
| seed | {cfg['seed']} |
| wall time | {result['wall_s'] / 60:.1f} min in all, {result['train_runtime_s'] / 60:.1f} min training (2 CPU cores) |

## Dev scores

Exported fp16 checkpoint, scored like `duihua eval segment`; OOV = gold words not in the training words.
chars/s here was measured at the end of training; `bench/segment.py` measures speed properly.
{wordhood['dev_note']}
{dev_table(result['dev'])}
{wordhood['shipped']}
## Command

```bash
{cfg.get('command', 'duihua train segmenter')}
```
{extra}
"""
    (folder / "README.md").write_text(text, encoding="utf-8")


def wordhood_section(cfg: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, str]:
    """The card's words on the wordhood features: a summary phrase and the second dev table."""
    counts = result.get("wordhood_words") or {}
    if not counts:
        return {"summary": "no wordhood features", "dev_note": "", "shipped": ""}
    sources = dict(cfg["wordhood"]["sources"])
    lists = ", ".join(f"{name} ({n:,} words: {', '.join(f'`{f}`' for f in sources[name]['files'])})"
                      for name, n in counts.items())
    summary = (f"wordhood features (B/M/E × word length per character, `models/segmenter/wordhood.py`) from {lists}, "
               f"added to the input embeddings and gated into the fused features; a gold word's match in a list "
               f"collected from its own sentences dropped with probability {cfg['wordhood']['dropout']} in training")
    note = ("\nThe table is scored as if the dev sentences were a test set: the words only they hold are taken out "
            "of the lists collected from their standard (the official lists hold no test-only words). The second "
            "table keeps the lists as shipped, which know every dev word: an upper bound.\n")
    shipped = f"\nWith the lists as shipped:\n\n{dev_table(result['dev_shipped_lists'])}\n"
    return {"summary": summary, "dev_note": note, "shipped": shipped}
