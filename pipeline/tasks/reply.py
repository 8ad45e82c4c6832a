"""Reply: the generator (and the ranker the hybrid reply uses to choose between candidates)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.tasks import Exporter, StageTask


def load(folder: Path, backend: str, cache_dir: str) -> Any:
    from models.reply.inference import ReplyGenerator

    return ReplyGenerator.from_pretrained(folder, backend=backend, cache_dir=cache_dir)


def raw_outputs(model: Any, probes: Sequence[str]) -> list:
    """The source encoding's first logits and four greedy decoder steps over the growing key/value cache."""
    from models.reply.modeling import decode_step, encode_source
    ids, attention = model._sources([[t] for t in probes])
    logits, state = encode_source(model.decoder, ids, attention)
    out = [logits.numpy()]
    token = logits.argmax(-1)
    for _ in range(4):
        step = decode_step(model.decoder, token, state)
        out.append(step.numpy())
        token = step.argmax(-1)
    return out


def dev_metric(model: Any, cfg: Mapping[str, Any]) -> tuple[str, float | None]:
    """Greedy BLEU-2 on the LCCC dev pairs."""
    from models.reply.data import dev_pairs, missing_files
    from models.reply.decoding import DecodingConfig
    from models.reply.metrics import reply_scores

    data = Path(cfg["paths"]["data"])
    missing = missing_files(data, [])   # the multi-turn dialogues the dev pairs come from
    if missing:
        return f"reply greedy BLEU-2 ×100 ({data / missing[0]} not found)", None
    pairs = dev_pairs(data, model.limits.max_turns)
    replies = model.generate([list(p.context) for p in pairs], DecodingConfig(strategy="greedy"))
    return "reply greedy BLEU-2 ×100", round(100 * reply_scores([r.text for r in replies],
                                                               [p.response for p in pairs])["bleu2"], 3)


TASK = StageTask(
    "reply",
    {"reply": "models.reply.train:train",
     "reply-ranker": "models.reply.selection_train:train"},
    evaluator="pipeline.evaluate.reply:evaluate",
    checkpoint_overrides=lambda d: ["reply=generative", f"reply.checkpoint={d}"],
    exporter=Exporter(load, raw_outputs, dev_metric),
)
