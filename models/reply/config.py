"""The reply checkpoint's light half: ``reply.json`` (the input limits it was trained with) and its check.

Why a module of its own: ``models.reply.inference`` imports torch (about 2 s of start-up) for decoding, but
the chat stage checks a checkpoint when the pipeline is built and loads the generator only for the first chat
sentence, so a run whose sentences all get template replies never imports torch. ``inference`` re-exports
these names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

CONFIG_FILE = "reply.json"
TRAIN_COMMAND = "duihua train reply"


@dataclass
class InputLimits:
    max_source_chars: int = 96   # ids in the source, [CLS] and [SEP]s included
    max_turns: int = 3           # context turns kept (the query included)
    max_target_chars: int = 40   # reply characters trained on


def save_limits(folder: Path, limits: InputLimits) -> None:
    (folder / CONFIG_FILE).write_text(json.dumps({"model_type": "duihua-reply", **asdict(limits)}, indent=1),
                                      encoding="utf-8")


def read_limits(folder: str | Path) -> InputLimits:
    """The limits in ``folder``'s reply.json; FileNotFoundError (saying how to train one) when it has none."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no reply generator in {folder} (missing {CONFIG_FILE}); train one with "
                                f"`{TRAIN_COMMAND}`")
    meta = json.loads(path.read_text(encoding="utf-8"))
    return InputLimits(**{k: v for k, v in meta.items() if k in InputLimits.__dataclass_fields__})
