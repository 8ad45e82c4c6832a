"""Save and load duihua task models: a JSON config (encoder + head) and fp16 safetensors weights.

A model trained with a parameter-efficient ``finetune.method`` carries its recipe (``model.finetune``, the
``apply_finetune`` keyword arguments), which ``load`` replays so adapters and prompts exist before the
weights are copied in. ``save(delta_base=...)`` stores only the trained parameters plus a reference to the
base encoder (path and hash, ``models/common/delta.py``); ``load`` then composes base + delta.

Task models (segmenter, splitter, …) are a ``BertModel`` plus a small head described by a dataclass. They are
not ``PreTrainedModel`` subclasses (the head would need its own config class and auto-registration), so this
mixin gives them the two things a checkpoint needs: a readable config and half-size weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:  # imported where a model is built: transformers takes seconds, and ONNX inference skips it
    from transformers import BertConfig

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
        from transformers import BertModel

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

    def save(self, folder: str | Path, fp16: bool = True, delta_base: str | Path | None = None) -> None:
        """Config + weights; with ``delta_base`` (the pre-trained encoder folder) only the trained parameters."""
        from safetensors.torch import save_file

        from models.common.delta import base_reference, trained_state

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"model_type": self.MODEL_TYPE, "encoder": self.encoder_config.to_dict(),
                  "head": asdict(self.head_config), "finetune": getattr(self, "finetune", None)}
        full = self.state_dict()  # type: ignore[attr-defined]
        if delta_base is not None:
            config["base"] = base_reference(delta_base, folder)
            full = {k: full[k] for k in trained_state(self)}  # type: ignore[arg-type]
        (folder / self.CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
        state = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous() for k, v in full.items()}
        save_file(state, str(folder / WEIGHTS_FILE))

    @classmethod
    def read_config(cls, folder: str | Path) -> dict[str, Any]:
        """The checkpoint's JSON config (encoder, head, finetune), checked to be this model type."""
        folder = cls.check_folder(folder)
        config = json.loads((folder / cls.CONFIG_FILE).read_text(encoding="utf-8"))
        if config.get("model_type") != cls.MODEL_TYPE:
            raise ValueError(f"{folder}: a {config.get('model_type')!r} checkpoint, not {cls.MODEL_TYPE!r}")
        return config

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        from safetensors.torch import load_file
        from transformers import BertConfig

        from models.common.delta import resolve_base
        from models.common.finetune import apply_finetune

        folder = Path(folder)
        config = cls.read_config(folder)  # checks the folder first
        model = cls(BertConfig(**config["encoder"]), cls.HEAD_CONFIG(**config["head"]))  # type: ignore[call-arg]
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(folder / WEIGHTS_FILE)).items()}
        if config.get("base"):   # a delta: the pre-trained encoder first, the trained parameters over it
            from models.encoder.modeling import copy_encoder_weights, load_encoder

            copy_encoder_weights(model.encoder, load_encoder(resolve_base(folder, config["base"]))[0])
        if config.get("finetune"):
            apply_finetune(model, model.encoder, **config["finetune"])  # type: ignore[arg-type]
            model.finetune = config["finetune"]  # type: ignore[attr-defined]
        missing, unexpected = model.load_state_dict(state, strict=not config.get("base"))  # type: ignore[attr-defined]
        if unexpected:
            raise ValueError(f"{folder}: weights {unexpected[:5]} do not fit the rebuilt model")
        return model.eval()  # type: ignore[attr-defined]
