"""The response-selection model on ONNX Runtime: the rank stage's path that never imports transformers.

One graph, ``(input_ids, attention_mask, token_type_ids) -> embedding`` (the unit vectors of
``SelectionModel.embed``), exported from the checkpoint on the first use of ``backend=onnx|onnx-int8`` and
cached like every other stage's graph (``models/common/onnx.py``). Padding and cosines are numpy; the torch
model is built only to export.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.common.onnx import BACKENDS, OnnxRunner, load_runner
from models.common.padding import pad_rows
from models.reply.features import ReplyTokenizer
from models.reply.selection_config import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    SelectionCheckpoint,
    SelectionEncoder,
    SelectionHeadConfig,
)

QUERY, RESPONSE = 0, 1   # token types, as in selection.py
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def export_embedding(folder: Path, path: Path) -> None:
    """Build the torch model and export its ``embed``: called only on an ONNX cache miss."""
    import torch

    from models.common.onnx import export
    from models.reply.selection import SelectionModel

    model = SelectionModel.load(folder)

    class Embedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
                    ) -> torch.Tensor:
            return self.model.embed(input_ids, attention_mask, token_type_ids)

    ones = torch.ones((2, 8), dtype=torch.long)
    export(Embedding(), {"input_ids": ones, "attention_mask": ones, "token_type_ids": ones}, ["embedding"], path,
           {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "token_type_ids": {0: "batch", 1: "seq"}, "embedding": {0: "batch"}})


class OnnxResponseSelector:
    """``ResponseSelector``'s ``scores`` on the cached graph (same ids, same cut of each side)."""

    def __init__(self, runner: OnnxRunner, tokenizer: ReplyTokenizer, head: SelectionHeadConfig) -> None:
        self.runner = runner
        self.encode = SelectionEncoder(tokenizer, head)
        self.pad_id = tokenizer.pad_token_id or 0

    @classmethod
    def from_pretrained(cls, folder: str | Path, backend: str = "onnx-int8",
                        cache_dir: str | Path = "~/.cache/duihua") -> OnnxResponseSelector:
        if backend not in BACKENDS[1:]:
            raise ValueError(f"backend must be one of {BACKENDS[1:]}, got {backend!r}")
        folder = SelectionCheckpoint.check_folder(folder)
        head = SelectionHeadConfig(**SelectionCheckpoint.read_config(folder)["head"])
        files = [folder / name for name in (CONFIG_FILE, WEIGHTS_FILE, *TOKENIZER_FILES) if (folder / name).is_file()]
        runner = load_runner(backend, files, cache_dir, lambda path: export_embedding(folder, path))
        return cls(runner, ReplyTokenizer(folder), head)

    def embed(self, texts: Sequence[str], side: int, batch_size: int = 256) -> np.ndarray:
        encode = self.encode.query if side == QUERY else self.encode.response
        parts = []
        for i in range(0, len(texts), batch_size):
            ids, mask = pad_rows([encode(t) for t in texts[i : i + batch_size]], self.pad_id)
            parts.append(self.runner.first_numpy({"input_ids": ids, "attention_mask": mask,
                                                  "token_type_ids": np.full_like(ids, side)}))
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def scores(self, queries: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per query, the cosine of each of its candidates (all candidates of the batch encoded at once)."""
        q = self.embed(queries, QUERY)
        r = self.embed([c for cands in candidates for c in cands], RESPONSE)
        out, start = [], 0
        for i, cands in enumerate(candidates):
            out.append([float(x) for x in r[start : start + len(cands)] @ q[i]])
            start += len(cands)
        return out
