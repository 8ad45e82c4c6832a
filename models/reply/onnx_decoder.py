"""The generator under ONNX Runtime: a decoder step with past keys/values, and the output head.

Two graphs per checkpoint, exported from ``CachedDecoder`` itself (so the arithmetic is the tested one):

* ``decoder_step``: ``(ids, types, positions, key_mask, past_keys, past_values) -> (hidden, present_keys,
  present_values)``; the caches are ``(layers, batch, heads, length, head_dim)`` and ``length`` may be 0,
  so the same graph encodes the source (no past) and then feeds one reply token per step;
* ``decoder_head``: ``hidden (N, H) -> logits (N, V)``, the tied MLM head, run only on the positions that
  predict (the source's last token, then each new token).

``OnnxDecoder`` has ``CachedDecoder``'s interface (``forward``, ``logits``, ``max_positions``), so
``models/reply/decoding.py`` (greedy, beam, sampling) runs unchanged on either backend. Every matrix product
is traced as MatMul + Add (``affine``), which int8 dynamic quantization covers.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from models.common.onnx import OnnxRunner, checkpoint_key, export, load_runner

if TYPE_CHECKING:  # modeling imports transformers (seconds); a warm cache never builds the torch decoder
    from models.reply.modeling import CachedDecoder

STEP_INPUTS = ("ids", "types", "positions", "key_mask", "past_keys", "past_values")
STEP_OUTPUTS = ("hidden", "present_keys", "present_values")


def _matmul_affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.matmul(x, w) + b


class _Graph(torch.nn.Module):
    """Holds a ``CachedDecoder`` whose tensors are registered as buffers, so the exporter stores them as
    initializers (which int8 quantization needs) instead of inline constants."""

    def __init__(self, decoder: CachedDecoder) -> None:
        super().__init__()
        d = self.decoder = copy.copy(decoder)
        d.affine = _matmul_affine  # type: ignore[method-assign]

        def detach(value: torch.Tensor | tuple) -> torch.Tensor | tuple:
            return tuple(v.detach() for v in value) if isinstance(value, tuple) else value.detach()

        for name in ("word", "position", "types", "emb_norm", "head_w", "head_b", "head_norm", "vocab_w", "vocab_b"):
            setattr(d, name, detach(getattr(d, name)))
        d.layers = [{k: detach(v) for k, v in layer.items()} for layer in decoder.layers]
        tensors = {"word": d.word, "position": d.position, "types": d.types, "head_w": d.head_w,
                   "head_b": d.head_b, "vocab_w": d.vocab_w, "vocab_b": d.vocab_b}
        tensors.update({f"emb_norm{j}": t for j, t in enumerate(d.emb_norm)})
        tensors.update({f"head_norm{j}": t for j, t in enumerate(d.head_norm)})
        for i, layer in enumerate(d.layers):
            for name, value in layer.items():
                parts = value if isinstance(value, tuple) else (value,)
                tensors.update({f"l{i}_{name}{j}": t for j, t in enumerate(parts)})
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor)


class _StepGraph(_Graph):
    def forward(self, ids, types, positions, key_mask, past_keys, past_values):  # noqa: ANN001, ANN201
        cache = [(past_keys[i], past_values[i]) for i in range(len(self.decoder.layers))]
        hidden = self.decoder.forward(ids, types, positions, key_mask, cache)
        return hidden, torch.stack([k for k, _ in cache]), torch.stack([v for _, v in cache])


class _HeadGraph(_Graph):
    def forward(self, hidden):  # noqa: ANN001, ANN201
        return self.decoder.logits(hidden)


def empty_cache(decoder: CachedDecoder, batch: int, length: int = 0) -> torch.Tensor:
    return torch.zeros((len(decoder.layers), batch, decoder.heads, length, decoder.head_dim))


def export_step(decoder: CachedDecoder, path: Path) -> None:
    b, t, s = 3, 5, 7   # distinct sizes, so no axis is mistaken for another while tracing
    example = {"ids": torch.full((b, t), 5, dtype=torch.long), "types": torch.zeros((b, t), dtype=torch.long),
               "positions": torch.arange(s, s + t).expand(b, t).contiguous(),
               "key_mask": torch.ones((b, s + t), dtype=torch.long),
               "past_keys": torch.randn(empty_cache(decoder, b, s).shape),
               "past_values": torch.randn(empty_cache(decoder, b, s).shape)}
    axes = {"ids": {0: "batch", 1: "new"}, "types": {0: "batch", 1: "new"}, "positions": {0: "batch", 1: "new"},
            "key_mask": {0: "batch", 1: "total"}, "past_keys": {1: "batch", 3: "past"},
            "past_values": {1: "batch", 3: "past"}, "hidden": {0: "batch", 1: "new"},
            "present_keys": {1: "batch", 3: "total"}, "present_values": {1: "batch", 3: "total"}}
    export(_StepGraph(decoder), example, STEP_OUTPUTS, path, axes)


def export_head(decoder: CachedDecoder, path: Path) -> None:
    example = {"hidden": torch.randn(3, decoder.word.shape[1])}
    export(_HeadGraph(decoder), example, ["logits"], path, {"hidden": {0: "rows"}, "logits": {0: "rows"}})


@dataclass(frozen=True)
class DecoderShape:
    """The sizes the graphs' inputs need (an empty cache, the position limit), known without the model."""

    layers: int
    heads: int
    head_dim: int
    max_positions: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DecoderShape:
        """From a BERT ``config.json`` (the checkpoint's), as ``CachedDecoder`` derives them from the model."""
        heads = int(config["num_attention_heads"])
        return cls(int(config["num_hidden_layers"]), heads, int(config["hidden_size"]) // heads,
                   int(config["max_position_embeddings"]))


class OnnxDecoder:
    """``CachedDecoder``'s interface over the two exported graphs; the cache stays a list of per-layer
    ``(keys, values)`` torch tensors, so beam search reorders it exactly as before."""

    def __init__(self, step: OnnxRunner, head: OnnxRunner, shape: DecoderShape) -> None:
        self.step, self.head = step, head
        self.layers_n, self.heads, self.head_dim = shape.layers, shape.heads, shape.head_dim
        self.max_positions = shape.max_positions

    @classmethod
    def load(cls, build: Callable[[], CachedDecoder], shape: DecoderShape, backend: str, files: list[Path],
             cache_dir: str | Path) -> OnnxDecoder:
        """The two graphs from the cache; ``build`` makes the torch decoder only when one must be exported
        (at most once for both)."""
        build, key = functools.cache(build), checkpoint_key(files)  # one hash of the checkpoint for both graphs
        step = load_runner(backend, files, cache_dir, lambda p: export_step(build(), p), "decoder_step", key)
        head = load_runner(backend, files, cache_dir, lambda p: export_head(build(), p), "decoder_head", key)
        return cls(step, head, shape)

    def forward(self, ids: torch.Tensor, types: torch.Tensor, positions: torch.Tensor, key_mask: torch.Tensor,
                cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        if int(positions.max()) >= self.max_positions:
            raise ValueError(f"position {int(positions.max())} exceeds the model's {self.max_positions}")
        if cache:
            past_k, past_v = torch.stack([k for k, _ in cache]), torch.stack([v for _, v in cache])
        else:
            past_k = past_v = torch.zeros((self.layers_n, ids.shape[0], self.heads, 0, self.head_dim))
        out = self.step.run({"ids": ids, "types": types, "positions": positions, "key_mask": key_mask,
                             "past_keys": past_k, "past_values": past_v})
        cache[:] = list(zip(out["present_keys"].unbind(0), out["present_values"].unbind(0), strict=True))
        return out["hidden"]

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head({"hidden": hidden}).float()
