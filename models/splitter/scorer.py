"""The request scorer: is this piece of unpunctuated text exactly one complete request (or sentence)?

    [CLS] c1..cn [SEP] -> BERT (the lowest ``encoder_layers`` layers of the shared encoder) -> H
    logit = MLP([h_CLS; mean(h_1..h_n)])

The boundary tagger looks at a gap with both sides in view; this model looks at a candidate piece alone,
which is the question the joint decoder (``models/splitter/joint.py``) asks: would the piece stand on its
own as a request? It is trained on whole sentences against the pieces wrong cuts leave
(``models/splitter/pieces.py``).

The network is in ``scorer_model.py``; this module runs it, and with an ONNX backend and a warm cache it runs
the cached graph without importing it (transformers costs seconds at start-up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.common.char_ids import CharIds
from models.common.onnx import BACKENDS, OnnxRunner, load_runner
from models.common.precision import length_batches
from models.splitter.activations import log_sigmoid
from models.splitter.config import SCORER_CONFIG_FILE as CONFIG_FILE
from models.splitter.config import RequestScorerCheckpoint, checkpoint_files, max_chars_of
from models.splitter.features import collate_numpy as splitter_collate
from models.splitter.features import splitter_view
from models.tokenization import load_char_ids

if TYPE_CHECKING:  # scorer_model imports transformers and torch (seconds); only backend=torch, training and an
    import torch  # export need them, so the ONNX path on a warm cache imports neither

    from models.splitter.scorer_model import RequestScorerModel

def encode_piece(text: str, char_ids: CharIds, max_chars: int, label: float | None = None) -> dict[str, np.ndarray]:
    """The piece in the splitter's view (no punctuation, folded digits/Latin), cut to ``max_chars``."""
    ex = {"input_ids": char_ids.encode(splitter_view(text)[0][:max_chars])}
    if label is not None:
        ex["labels"] = np.asarray(label, dtype=np.float32)
    return ex


def collate_numpy(batch: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Padded ids and mask (int64), and one float32 label per piece when the examples have them."""
    out = splitter_collate([{"input_ids": ex["input_ids"]} for ex in batch])
    if "labels" in batch[0]:
        out["labels"] = np.asarray([float(ex["labels"]) for ex in batch], dtype=np.float32)
    return out


def collate(batch: Sequence[Mapping[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """``collate_numpy`` as torch tensors, for training."""
    import torch

    return {k: torch.from_numpy(v) for k, v in collate_numpy(batch).items()}


class RequestScorer:
    """``log_probabilities(texts)``: log P(complete request) per piece, batched by length."""

    def __init__(self, model: RequestScorerModel | None, char_ids: CharIds, batch_chars: int = 8192,
                 onnx: OnnxRunner | None = None, max_chars: int | None = None) -> None:
        if model is None and (onnx is None or max_chars is None):
            raise ValueError("a RequestScorer without its torch model needs the ONNX runner and max_chars")
        self.model = model.eval() if model is not None else None
        self.char_ids, self.batch_chars, self.onnx = char_ids, batch_chars, onnx
        if max_chars is None:  # [CLS] ... [SEP]
            max_chars = model.encoder_config.max_position_embeddings - 2  # type: ignore[union-attr]
        self.max_chars = max_chars

    @classmethod
    def from_pretrained(cls, folder: str | Path, backend: str = "torch", cache_dir: str | Path = "~/.cache/duihua",
                        batch_chars: int = 8192) -> RequestScorer:
        """``backend="torch"`` builds the model; ONNX backends read the checkpoint's JSON and run the cached
        graph, building the torch model only to export it on a cache miss."""
        folder = RequestScorerCheckpoint.check_folder(folder)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "torch":
            from models.splitter.scorer_model import RequestScorerModel
            from models.tokenization import load_tokenizer

            return cls(RequestScorerModel.load(folder), CharIds.from_tokenizer(load_tokenizer(folder)), batch_chars)
        config = RequestScorerCheckpoint.read_config(folder)
        runner = load_runner(backend, checkpoint_files(folder, CONFIG_FILE), cache_dir, partial(_export, folder))
        return cls(None, load_char_ids(folder), batch_chars, runner, max_chars_of(config))

    def log_probabilities(self, texts: Sequence[str]) -> list[float]:
        """log P(complete request) per text, batched by length."""
        items = [encode_piece(t, self.char_ids, self.max_chars) for t in texts]
        out = [0.0] * len(texts)
        for chunk in length_batches([len(x["input_ids"]) for x in items], self.batch_chars):
            batch = collate_numpy([items[k] for k in chunk])
            run = self._onnx_log_probabilities if self.onnx is not None else self._torch_log_probabilities
            for k, v in zip(chunk, run(batch).tolist(), strict=True):
                out[k] = v
        return out

    def _onnx_log_probabilities(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The cached graph's logits through a numpy log-sigmoid: this backend never imports torch."""
        return log_sigmoid(self.onnx.first_numpy(batch))  # type: ignore[union-attr]

    def _torch_log_probabilities(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The torch model with torch's own log-sigmoid (as it always ran)."""
        import torch

        with torch.inference_mode():
            logits = self.model(**{k: torch.from_numpy(v) for k, v in batch.items()})["logits"]  # type: ignore[misc]
            return torch.nn.functional.logsigmoid(logits.float()).numpy()


def _export(folder: Path, path: Path) -> None:
    """The ONNX export, on a cache miss only: the one place the ONNX path imports the model (transformers)."""
    from models.splitter.scorer_model import export_onnx

    export_onnx(folder, path)
