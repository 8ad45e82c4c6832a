"""Write ``README.md`` for a reply generator: data, command, seed, time, dev metrics, example exchanges."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.common.cards import relative_path


def example_table(examples: list[Mapping[str, Any]]) -> str:
    rows = ["| context | reference | generated |", "|---|---|---|"]
    for ex in examples:
        context = " / ".join(ex["context"]) or "(empty)"
        rows.append(f"| {context} | {ex['reference']} | {ex['reply']} |")
    return "\n".join(rows)


def write_model_card(folder: Path, cfg: Mapping[str, Any], result: Mapping[str, Any], extra: str = "") -> None:
    trainer, data, model, obj, dec = cfg["trainer"], cfg["data"], cfg["model"], cfg["objectives"], cfg["decoding"]
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e6
    root = cfg["paths"]["root"]
    dev_file = f"{relative_path(str(cfg['dev_dir']), root)}/lccc_valid.tsv"
    sources = ", ".join(f"{k} {v:,} pairs × {data['weights'][k]}" for k, v in result["pairs_per_source"].items())
    caps = ", ".join(f"{k} ≤ {v:,}" for k, v in (data.get("caps") or {}).items() if v) or "none"
    init = ("the pre-trained encoder `" + relative_path(str(cfg["encoder"]["pretrained"]), root) + "`"
            if model["init"] == "pretrained" else "random weights (no pre-training)")
    decoding = ", ".join(f"{k} {v}" for k, v in dec.items())
    text = f"""# duihua reply generator

One BERT with a prefix-LM attention mask (UniLM's seq2seq mask; `models/reply/modeling.py`): the context
`[CLS] turn [SEP] … [SEP]` attends bidirectionally, the reply left to right, and position j predicts token
j+1 through the tied MLM output layer. Decoding caches every layer's keys and values.

| | |
|---|---|
| weights | fp16 safetensors, {size_mb:.1f} MB, {result['parameters']:,} parameters, initialised from {init} |
| data | `../shared/data/chat`: {sources}; caps {caps}; {result['train_pairs_per_epoch']:,} pairs per epoch |
| dev | {result['dev_pairs']:,} pairs: every reply of the LCCC multi-turn `valid` dialogues (not seen in pre-training; pairs equal to a dev pair removed from training) |
| input | up to {model['limits']['max_turns']} turns, {model['limits']['max_source_chars']} source ids, {model['limits']['max_target_chars']} reply characters |
| objectives | target LM + {obj['mlm_weight']} × source MLM ({obj['mlm_probability']} of the source characters of {obj['mlm_rows']} of the rows) |
| optimisation | {result['steps']:,} steps, batch {trainer['per_device_train_batch_size']}, lr {trainer['learning_rate']} ({trainer['lr_scheduler_type']}), bf16 autocast on CPU: {trainer.get('cpu_bf16', False)} |
| seed | {cfg['seed']} |
| wall time | {result['wall_s'] / 60:.1f} min in all, {result['train_runtime_s'] / 60:.1f} min training (2 CPU cores) |

## Command

```bash
{cfg.get('command', 'duihua train reply')}
```

## Dev metrics

Single-turn (the query is the turn before each reply), as `duihua eval reply --data {dev_file}` scores it.
Character-level corpus BLEU (NLTK method1 smoothing) and distinct-n over all replies, as fractions;
perplexity of the reference replies per character (closing [SEP] included).
Decoding: {decoding}.

| BLEU-1 | BLEU-2 | distinct-1 | distinct-2 | perplexity |
|---|---|---|---|---|
| {result['bleu1']:.4f} | {result['bleu2']:.4f} | {result['distinct1']:.4f} | {result['distinct2']:.4f} | {result['ppl']:.2f} |
{extra}
## Example exchanges

{len(result['examples'])} dev pairs drawn with a fixed seed (`EXAMPLE_SEED` in `models/reply/train.py`), not
picked by hand; single-turn context, the configured decoding.

{example_table(result['examples'])}

## Data and licences

LCCC sample (MIT), chatterbot corpus (BSD-3-Clause), TV-series subtitle dialogues (MIT); see
`../shared/data/PROVENANCE.md`. Subtitle lines are filtered (`models/reply/data.py: clean_subtitle`): phrase
spaces become "，"; lines with Latin letters, without a Chinese character, or outside 2–{data['subtitle_max_chars']}
characters are dropped and break the dialogue there.
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
