"""Write ``README.md`` for a splitter checkpoint: data, command, seed, time, dev scores (and distillation)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.common.cards import relative_path

DEV_NAMES = {"requests": "requests: 1–4 SMP dev requests joined",
             "dialogue": "dialogue: multi-sentence CrossWOZ dev turns",
             "mixed": "mixed: all four sources, training mix",
             "lone": "lone: every SMP dev request alone (exact = left whole)"}


def dev_table(dev: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| dev set | records | boundaries | P | R | F1 | exact | chars/s |", "|---|---|---|---|---|---|---|---|"]
    for name, m in dev.items():
        lines.append(f"| {DEV_NAMES.get(name, name)} | {m['records']:,} | {m['gold_boundaries']:,} | "
                     f"{m['precision']:.4f} | {m['recall']:.4f} | **{m['f1']:.4f}** | {m['exact']:.4f} | "
                     f"{m['chars_per_s']:,} |")
    return "\n".join(lines)


def comparison_table(comparison: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    names = list(next(iter(comparison.values())))
    head = " | ".join(f"{n} P / R / F1" for n in names)
    lines = [f"| model | {head} | chars/s (requests) |", "|---|" + "---|" * (len(names) + 1)]
    for model, dev in comparison.items():
        cells = " | ".join(f"{dev[n]['precision']:.4f} / {dev[n]['recall']:.4f} / **{dev[n]['f1']:.4f}**"
                           for n in names)
        lines.append(f"| {model} | {cells} | {dev['requests']['chars_per_s']:,} |")
    return "\n".join(lines)


def write_model_card(folder: Path, cfg: Mapping[str, Any], result: Mapping[str, Any], extra: str = "") -> None:
    model, trainer, data = cfg["model"], cfg["trainer"], cfg["data"]
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e6
    mix = ", ".join(f"{k} {v}" for k, v in dict(data["mix"]).items())
    distilled = "comparison" in result
    teachers = ", ".join(f"seed {t['seed']}, {t['layers']} layers" for t in result.get("teachers", []))
    what = (f"Student distilled from an ensemble of {len(result['teachers'])} teachers ({teachers})."
            if distilled else "Trained on hard labels only (no distillation).")
    soft = (f"soft-label weight {model['head']['soft_weight']}; {cfg['distill']['extra_examples']:,} extra "
            "synthetic joins labelled by the ensemble" if distilled else "hard labels")
    head = model["head"]
    fused = head.get("fusion", "none") != "none"
    lexicons = ", ".join(dict(cfg.get("lexicons", {}).get("domains") or {})) or "none"
    gazetteer = (f"\n| gazetteer | character tags of the lexicons {lexicons} added to the character embeddings "
                 f"(`fusion: {head['fusion']}`), at most {head['max_tags']} per character, pooled by "
                 f"{head['tag_pool']}; {data.get('tag_dropout', 0.0)} of tagged training spans untagged |"
                 if fused else "")
    text = f"""# duihua splitter

Semantic sentence splitting of unpunctuated ASR text: "does a sentence end after this character?" for every
character, from the lowest {model.get('encoder_layers') or 'all'} layers of the pre-trained encoder and a
classifier over the states on both sides of each gap. {what} Sentence-final punctuation, when present, cuts
directly; the model cuts inside unpunctuated runs. Threshold {cfg['threshold']}.

| | |
|---|---|
| weights | fp16 safetensors, {size_mb:.1f} MB, {result['parameters']:,} parameters |
| data | `../shared/data` synthesised joins ({mix}); {result['train_examples']:,} examples, {result['train_chars']:,} characters per epoch; {soft} |{gazetteer}
| dev split | by dialogue / document / request: {data['dev_percent']} % of groups, SMP2017 `develop.jsonl` always dev |
| optimisation | {result['steps']:,} steps, batch {trainer['per_device_train_batch_size']}, lr {trainer['learning_rate']} (encoder) / {trainer.get('head_learning_rate') or trainer['learning_rate']} (head), {trainer.get('num_train_epochs')} epochs, bf16 autocast on CPU: {bool(trainer.get('cpu_bf16'))} |
| seed | {cfg['seed']} |
| wall time | {result['wall_s'] / 60:.1f} min in all, {result['train_runtime_s'] / 60:.1f} min training this model (2 CPU cores) |

## Dev scores

Boundary precision / recall / F1 and exact-record accuracy, scored like `duihua eval split` (the dev files
are written to `{relative_path(cfg['dev_dir'], cfg.get('paths', {}).get('root'))}/`: `requests.jsonl`,
`dialogue.jsonl`, `mixed.jsonl`). chars/s: fp32 torch, batched, measured at the end of training.

{dev_table(result['dev'])}
"""
    if distilled:
        teacher_lr = {**trainer, **dict(cfg["distill"].get("teacher_trainer") or {})}
        text += f"""
## Teachers, ensemble, student (same dev sets, same run)

Teachers: lr {teacher_lr['learning_rate']} (encoder) / {teacher_lr.get('head_learning_rate')} (head), otherwise the
student's data recipe and trainer, each on its own synthetic sample (its seed).

{comparison_table(result['comparison'])}
"""
    text += f"""
## Command

```bash
{cfg.get('command', 'duihua train splitter')}
```
{extra}
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
