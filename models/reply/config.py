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


@dataclass
class DecodingConfig:
    """Defaults are the shipped ones (``conf/decoding/sample.yaml``)."""

    strategy: str = "sample"           # greedy | beam | sample
    max_new_tokens: int = 32           # characters, the closing [SEP] not counted
    min_new_tokens: int = 6            # [SEP] is forbidden before this many characters
    num_beams: int = 1                 # beam: hypotheses kept
    length_penalty: float = 1.0        # beam: score = log p / length ** length_penalty
    temperature: float = 0.7           # sample
    top_k: int = 0                     # sample: keep the k most likely tokens (0: all)
    top_p: float = 0.9                 # sample: keep the smallest set with this much probability mass
    repetition_penalty: float = 1.2    # > 1 discourages characters already generated
    no_repeat_ngram_size: int = 3      # > 0 forbids repeating any n-gram of this size
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in ("greedy", "beam", "sample"):
            raise ValueError(f"decoding.strategy: expected greedy, beam or sample, got {self.strategy!r}")
        if self.max_new_tokens < 1 or not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(f"decoding: need 1 <= max_new_tokens and 0 <= min_new_tokens <= max_new_tokens, got "
                             f"{self.min_new_tokens}, {self.max_new_tokens}")
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.num_beams < 1:
            raise ValueError("decoding: temperature > 0, 0 < top_p <= 1, top_k >= 0 and num_beams >= 1 required")
        if self.repetition_penalty < 1:
            raise ValueError(f"decoding.repetition_penalty must be >= 1, got {self.repetition_penalty}")
