"""Write ``README.md`` for a response-selection checkpoint: data, command, seed, time, recall@1 of 10."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.common.cards import relative_path


def write_selection_card(folder: Path, cfg: Mapping[str, Any], result: Mapping[str, Any],
                         curve: Sequence[Mapping[str, Any]]) -> None:
    """``README.md`` of a reply-ranker checkpoint. One template on purpose: it reads top to bottom as the card
    it renders."""
    spec, data = cfg["ranker"], cfg["data"]
    size_mb = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 1e6
    encoder = relative_path(str(cfg["encoder"]["pretrained"]), cfg["paths"]["root"])
    sources = ", ".join(f"{k} {v:,} pairs × {data['weights'][k]}" for k, v in result["pairs_per_source"].items())
    caps = ", ".join(f"{k} ≤ {v:,}" for k, v in (data.get("caps") or {}).items() if v) or "none"
    facts = [
        ("weights", f"fp16 safetensors, {size_mb:.1f} MB, {result['parameters']:,} parameters"),
        ("data", f"the reply generator's training mix (`conf/train/reply.yaml`): {sources}; caps {caps}; "
                 f"{result['train_pairs_per_epoch']:,} (query, reply) pairs, the query being "
                 "the turn before the reply"),
        ("objective", f"symmetric InfoNCE with in-batch negatives, temperature {spec['head']['temperature']}; "
                      "a reply equal to the positive is not a negative"),
        ("optimisation", f"{result['steps']:,} steps, batch {spec['batch_size']}, lr {spec['learning_rate']} "
                         f"(warmup {spec['warmup']}, linear decay), AdamW"),
        ("input", f"query: last {spec['head']['max_query_chars']} characters; "
                  f"reply: first {spec['head']['max_response_chars']}"),
        ("retrieval pool", f"`retrieval_pairs.tsv`: {result.get('pool_pairs', 0):,} stored pairs of "
                           f"{', '.join(cfg['pool']['sources'])} that `reply=rank` retrieves candidates from "
                           "(`duihua train reply-ranker pool_only=true` rewrites it alone)"),
        ("seed", str(cfg["seed"])),
        ("wall time", f"{result['wall_s'] / 60:.1f} min in all, {result['train_runtime_s'] / 60:.1f} min training "
                      f"({result['threads']} CPU thread(s))"),
    ]
    table = "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in facts)])
    rows = "\n".join(f"| {c['step']} | {c['loss']:.4f} |" for c in curve[:: max(1, len(curve) // 10)])
    text = f"""# duihua reply ranker (response selection)

A bi-encoder (`models/reply/selection.py`): query and candidate reply are each encoded by the lowest
{result['layers']} layers of `{encoder}` (token type 0 for the query, 1 for the reply), mean-pooled and
L2-normalized; the score is their cosine. `reply=rank` (`pipeline/stages/reply_rank.py`) reranks generated
and retrieved candidates with it.

{table}

## Command

```bash
{result['command']}
```

## Dev metric

Recall@1 of {result['dev_candidates']} on the {result['dev_pairs']:,} generator dev pairs (every reply of the
LCCC multi-turn `valid` dialogues, single-turn): the true reply must outscore {result['dev_candidates'] - 1}
other dev replies drawn with a fixed seed (`DEV_SEED` in `models/reply/selection_train.py`). Chance is
{1 / result['dev_candidates']:.2f}.

| recall@1 of {result['dev_candidates']} | final training loss |
|---|---|
| **{result['recall_at_1']:.4f}** | {result['final_loss']} |

## Training loss

| step | mean loss over the last {spec['log_steps']} steps |
|---|---|
{rows}

## Data and licences

LCCC sample (MIT), chatterbot corpus (BSD-3-Clause), TV-series subtitle dialogues (MIT); see
`../shared/data/PROVENANCE.md`. Initialised from `{encoder}`, which is for research use (its card says why).
"""
    (folder / "README.md").write_text(text, encoding="utf-8")
