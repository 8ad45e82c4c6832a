"""Write ``README.md`` for an intent checkpoint: data, command, seed, time, dev scores, calibration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.common.cards import relative_path

DEV_NAMES = {"smp2017": "SMP2017 `develop.jsonl` (domain)", "smp2019": "SMP2019 dev split (domain/intent)"}


def dev_table(dev: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| dev set | examples | accuracy | domain acc. | intent acc. | macro-F1 | accuracy, lexicons off | "
             "ECE | mean gate |", "|---|---|---|---|---|---|---|---|---|"]
    for name, m in dev.items():
        intent = "–" if m["intent_accuracy"] is None else f"{m['intent_accuracy']:.2f}"
        gate = "–" if m["mean_gate"] is None else f"{m['mean_gate']:.3f}"
        lines.append(f"| {DEV_NAMES.get(name, name)} | {m['examples']:,} | **{m['accuracy']:.2f}** | "
                     f"{m['domain_accuracy']:.2f} | {intent} | {m['macro_f1']:.2f} | {m['no_lexicons']:.2f} | "
                     f"{m['ece']:.3f} | {gate} |")
    return "\n".join(lines)


def finetune_row(cfg: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """``finetune.method``, what it trained, and (for a delta) what the weights file holds."""
    method = result.get("finetune_method", "full")
    if method == "full":
        return f"full: every parameter trained{', shots ' + str(cfg['data']['shots']) if cfg['data'].get('shots') else ''}"
    rate = (cfg.get("finetune", {}).get("learning_rate") or {}).get(method) or cfg["trainer"]["learning_rate"]
    return (f"{method} (lr {rate}): {result['trained_parameters']:,} of {result['parameters']:,} parameters trained; "
            f"the weights file holds only those ({result['stored_bytes'] / 1e6:.2f} MB) and the base encoder's path "
            "and sha256 (`models/common/delta.py`)")


def write_model_card(folder: Path, cfg: Mapping[str, Any], result: Mapping[str, Any], extra: str = "") -> None:
    head, trainer, data = cfg["model"]["head"], cfg["trainer"], cfg["data"]
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e6
    lexicons = ", ".join(sorted(cfg.get("lexicons", {}).get("domains", {}))) or "none"
    train_n = ", ".join(f"{k} {v:,}" for k, v in result["train_examples"].items())
    dev_n = ", ".join(f"{k} {v:,}" for k, v in result["dev_examples"].items())
    text = f"""# duihua intent

Slot-aware intent classification: the pre-trained encoder, gazetteer slot labels fused by **{head['fusion']}**
fusion (`models/intent/modeling.py`), one self-attention layer over the fused sequence, and two heads: domain
({result['domains']} domains, SMP2017 and SMP2019 together, `chat` included) and intent ({result['intents']}
SMP2019 `domain/intent` labels). In the pipeline, decoding picks the domain, then the best intent of that
domain; each dev set below is scored with the head trained on its own label scheme (SMP2017: domain head;
SMP2019: intent head), as `duihua eval intent` does. Scores are temperature-calibrated on dev (domain
T = {result['domain_temperature']:.2f}, intent T = {result['intent_temperature']:.2f}).

| | |
|---|---|
| weights | fp16 safetensors, {size_mb:.1f} MB, {result['parameters']:,} parameters |
| data | `../shared/data/nlu`: train {train_n} (texts found in any dev set removed) |
| dev | {dev_n}: SMP2017 `develop.jsonl`; {data['dev_percent']} % of SMP2019 `train.json` by CRC32 of the text |
| gazetteer | lexicons {lexicons} (SMP2019-derived entries exclude the dev split); {result['slot_types']} slot types seen in training; tags pooled by {head['tag_pool']}, at most {head['max_tags']} per character |
| augmentation | entity swap: {data['entity_swap']['copies']} swapped copy per query with a gazetteer entity of ≥ {data['entity_swap']['min_chars']} characters, {result.get('swapped_examples', 0):,} added; tag dropout {data.get('tag_dropout', 0.0)} (share of training entity spans shown untagged) |
| head | fusion {head['fusion']}, slot dim {head['slot_dim']}, attention dim {head['attn_dim']} ({head['attn_heads']} heads), char 2/3-gram bag {head['ngram_buckets']:,} buckets × {head['ngram_dim']}, shared domains {data['shared_domains']} |
| optimisation | {result['steps']:,} steps, batch {trainer['per_device_train_batch_size']}, lr {trainer['learning_rate']} (encoder) / {trainer.get('head_learning_rate') or trainer['learning_rate']} (fusion, heads), {trainer['num_train_epochs']} epochs, fixed (no checkpoint picked on dev) |
| fine-tuning | {finetune_row(cfg, result)} |
| seed | {cfg['seed']} |
| wall time | {result['wall_s'] / 60:.1f} min in all, {(result['train_runtime_s'] or 0) / 60:.1f} min training ({result.get("hardware", "2 CPU cores")}) |

## Command

```bash
{cfg.get('command', 'duihua train intent')}
```

## Dev scores

Percentages; `accuracy` is on each file's own label. "Lexicons off" runs the same model with no gazetteer
tags. ECE: expected calibration error of the label score (10 bins, after temperature scaling).

{dev_table(result['dev'])}

The dev files are written to `{relative_path(str(cfg['dev_dir']), cfg['paths']['root'])}/`; re-score with
`duihua eval intent --data {relative_path(str(cfg['dev_dir']), cfg['paths']['root'])}/smp2017.jsonl --checkpoint {relative_path(str(folder), cfg['paths']['root'])}`.
{extra}
## Data and licences

SMP2017-ECDT and SMP2019-ECDT task 1: licence not stated (research use). The official test sets are not
available here; the dev figures above are on splits carved from the released training data.
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
