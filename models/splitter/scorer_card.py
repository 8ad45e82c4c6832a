"""``README.md`` for a request-scorer checkpoint: data, command, seed, time, dev piece scores."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_scorer_card(folder: Path, cfg: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    spec, trainer = cfg["scorer"], cfg["trainer"]
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e6
    rows = "\n".join(f"| {name} | {m['pieces']:,} | {m['accuracy']:.4f} | **{m['auc']:.4f}** |"
                     for name, m in result["dev"].items())
    data = (f"`../shared/data`, the splitter's sources and dev split (`conf/train/splitter.yaml`): "
            f"{spec['examples']:,} synthetic joins, spoken noise included; each sentence a positive, as many "
            f"negatives from wrong cuts (sentences joined, start or end shifted by 1-{spec['max_shift']} "
            f"characters): {result['train_pieces']:,} pieces")
    optimisation = (f"{result['steps']:,} steps, batch {trainer['per_device_train_batch_size']}, lr "
                    f"{trainer['learning_rate']} (encoder) / {trainer.get('head_learning_rate')} (head), "
                    f"{trainer['num_train_epochs']} epoch(s)")
    text = f"""# duihua request scorer

Is this piece of unpunctuated text exactly one complete request? The joint splitter (`splitter=joint`,
`models/splitter/joint.py`) asks it about every piece its candidate cuts could leave. The lowest
{result['layers']} layers of the pre-trained encoder, [CLS] and mean-pooled states, a small MLP.

| | |
|---|---|
| weights | fp16 safetensors, {size_mb:.1f} MB, {result['parameters']:,} parameters |
| data | {data} |
| optimisation | {optimisation} |
| seed | {cfg['seed']} |
| wall time | {result['wall_s'] / 60:.1f} min (this command, end to end) |

## Dev scores

Pieces drawn the same way from the splitter's dev joins (`outputs/splitter/dev/`), fixed seed.

| dev joins | pieces | accuracy at 0.5 | AUC |
|---|---|---|---|
{rows}

## Command

```bash
duihua train request-scorer
```
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
