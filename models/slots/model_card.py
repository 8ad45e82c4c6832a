"""Write ``README.md`` for a slot-tagger checkpoint: data, command, seed, time, dev scores."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.common.cards import relative_path

DEV_NAMES = {"smp2017": "SMP2017 `develop.jsonl`", "smp2019": "SMP2019 dev split (20 % by CRC32 of the text)",
             "crosswoz": "CrossWOZ `nlu_val.jsonl` user turns, 20 % of dialogues by CRC32 of the id"}


def write_model_card(folder: Path, cfg: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    head, trainer, data = cfg["model"]["head"], cfg["trainer"], cfg["data"]
    size_mb = (folder / "model.safetensors").stat().st_size / 1e6
    lexicons = ", ".join(sorted(cfg.get("lexicons", {}).get("domains", {}))) or "none"
    rows = ["| dev set | examples | gold spans | precision | recall | **F1** | F1, lexicons off |", "|---|---|---|---|---|---|---|"]
    for name, m in result["dev"].items():
        if "f1" not in m:
            continue
        rows.append(f"| {DEV_NAMES.get(name, name)} | {m['examples']:,} | {m['gold_spans']:,} | {m['precision']:.4f} | "
                    f"{m['recall']:.4f} | **{m['f1']:.4f}** | {m['no_lexicons_f1']:.4f} |")
    intent = [f"- {DEV_NAMES.get(n, n)}: {m['intent_accuracy']:.2f} % (argmax)" for n, m in result["dev"].items()
              if "intent_accuracy" in m]
    types = []
    for name, m in result["dev"].items():
        if "recall_by_type" not in m:
            continue
        per = ", ".join(f"{t} {r:.2f} ({n})" for t, (n, r) in m["recall_by_type"].items())
        types.append(f"- {name}: {per}")
    minutes = (result.get("wall_s") or 0) / 60
    text = f"""# duihua slot tagger

A character BIO tagger: the pre-trained encoder (`{relative_path(str(cfg['encoder']['pretrained']), cfg.get('paths', {}).get('root'))}`,
{cfg['model'].get('encoder_layers') or 'all'} layers) with the gazetteer's per-character tags fused in by gated
slot attention (`fusion: {head['fusion']}`), {f"hashed char bigrams ({head['bigram_buckets']:,} buckets), " if head.get('bigram_buckets') else ""}{"a linear-chain CRF" if head.get('crf') else "a softmax"} and constrained
Viterbi decoding (`models/slots/modeling.py`). {result['labels']} slot types (the datasets' own: SMP2019 names,
CrossWOZ `<domain>-<slot>`), reading {result['gazetteer_types']} gazetteer types.{" A joint model: domain and intent heads on the same pass." if result.get('joint') else ""}

| | |
|---|---|
| command | `{cfg.get('command', 'duihua train slots')}` |
| data | {', '.join(data['datasets'])} from `../shared/data` (SMP2019-ECDT task 1: licence not stated; CrossWOZ: Apache-2.0) |
| train examples | {result['train_examples']} + {result['swapped_examples']:,} entity-swapped copies; tag dropout {data.get('tag_dropout', 0)} |
| lexicons (features) | {lexicons} |
| seed | {cfg['seed']} |
| steps / epochs | {result['steps']:,} / {trainer.get('num_train_epochs')} (batch {trainer.get('per_device_train_batch_size')}, lr {trainer.get('learning_rate')}, head lr {trainer.get('head_learning_rate')}) |
| training time | {minutes:.1f} min wall on this machine |
| parameters | {result['parameters']:,} ({size_mb:.1f} MB fp16) |

## Dev scores

Span-exact, type ignored (as `duihua eval slots` scores them); the tagger alone, before the pipeline merges
gazetteer matches and normalized values.

{chr(10).join(rows)}

{"Intent accuracy of the joint heads:" + chr(10) + chr(10) + chr(10).join(intent) + chr(10) if intent else ""}
Recall per gold type (count):

{chr(10).join(types)}
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
