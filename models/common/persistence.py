"""Save and load duihua task models: a JSON config (encoder + head) and fp16 safetensors weights.

Task models (segmenter, splitter, …) are a ``BertModel`` plus a small head described by a dataclass. They are
not ``PreTrainedModel`` subclasses (the head would need its own config class and auto-registration), so this
mixin gives them the two things a checkpoint needs: a readable config and half-size weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Self

from safetensors.torch import load_file, save_file
from transformers import BertConfig

WEIGHTS_FILE = "model.safetensors"


class SavableModel:
    """Mixin for ``nn.Module`` subclasses built as ``cls(encoder_config, head_config)``."""

    CONFIG_FILE: ClassVar[str]      # not config.json: AutoTokenizer would read it as an HF model config
    MODEL_TYPE: ClassVar[str]
    HEAD_CONFIG: ClassVar[type]
    encoder_config: BertConfig
    head_config: Any

    def save(self, folder: str | Path, fp16: bool = True) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"model_type": self.MODEL_TYPE, "encoder": self.encoder_config.to_dict(),
                  "head": asdict(self.head_config)}
        (folder / self.CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
        state = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous()
                 for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        save_file(state, str(folder / WEIGHTS_FILE))

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        folder = Path(folder)
        config = json.loads((folder / cls.CONFIG_FILE).read_text(encoding="utf-8"))
        if config.get("model_type") != cls.MODEL_TYPE:
            raise ValueError(f"{folder}: a {config.get('model_type')!r} checkpoint, not {cls.MODEL_TYPE!r}")
        model = cls(BertConfig(**config["encoder"]), cls.HEAD_CONFIG(**config["head"]))  # type: ignore[call-arg]
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(folder / WEIGHTS_FILE)).items()}
        model.load_state_dict(state)  # type: ignore[attr-defined]
        return model.eval()  # type: ignore[attr-defined]
