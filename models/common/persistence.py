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
from transformers import BertConfig, BertModel

WEIGHTS_FILE = "model.safetensors"


class SavableModel:
    """Mixin for ``nn.Module`` subclasses built as ``cls(encoder_config, head_config)``."""

    CONFIG_FILE: ClassVar[str]      # not config.json: AutoTokenizer would read it as an HF model config
    MODEL_TYPE: ClassVar[str]
    HEAD_CONFIG: ClassVar[type]
    TRAIN_COMMAND: ClassVar[str]    # named in the error when a folder holds no such checkpoint
    encoder_config: BertConfig
    head_config: Any

    def init_encoder(self, encoder_config: BertConfig, head: Any) -> int:
        """Keep both configs (``save`` writes them) and build the encoder; returns its hidden size."""
        self.encoder_config, self.head_config = encoder_config, head
        self.encoder = BertModel(encoder_config, add_pooling_layer=False)
        return encoder_config.hidden_size

    @classmethod
    def check_folder(cls, folder: str | Path) -> Path:
        """``folder`` as a Path; FileNotFoundError naming the train command when it holds no checkpoint."""
        folder = Path(folder)
        if not (folder / cls.CONFIG_FILE).is_file():
            kind = cls.MODEL_TYPE.removeprefix("duihua-")
            raise FileNotFoundError(f"no {kind} checkpoint in {folder} (missing {cls.CONFIG_FILE}); "
                                    f"train one with `{cls.TRAIN_COMMAND}`")
        return folder

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
        folder = cls.check_folder(folder)
        config = json.loads((folder / cls.CONFIG_FILE).read_text(encoding="utf-8"))
        if config.get("model_type") != cls.MODEL_TYPE:
            raise ValueError(f"{folder}: a {config.get('model_type')!r} checkpoint, not {cls.MODEL_TYPE!r}")
        model = cls(BertConfig(**config["encoder"]), cls.HEAD_CONFIG(**config["head"]))  # type: ignore[call-arg]
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(folder / WEIGHTS_FILE)).items()}
        model.load_state_dict(state)  # type: ignore[attr-defined]
        return model.eval()  # type: ignore[attr-defined]
