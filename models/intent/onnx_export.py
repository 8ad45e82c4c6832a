"""The intent classifier as one ONNX graph: the torch half of ``models.intent.inference``.

Why a module of its own: these wrappers subclass ``torch.nn.Module``, and ``inference`` must not import torch
(about 2 s of start-up) to classify on a warm ONNX cache. This module is imported only inside the export
callback of a cache miss, when the torch model is built anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from models.common.onnx import export

if TYPE_CHECKING:
    from models.intent.modeling import SlotAwareIntentModel


class _OutputsTuple(torch.nn.Module):
    """The classifier as ``inputs -> (domain_logits, intent_logits, gates)``, the signature an ONNX graph needs
    (gates are ones without gated fusion, and dropped again on the way out)."""

    def __init__(self, model: SlotAwareIntentModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, slot_types, slot_positions, ngram_ids=None):  # noqa: ANN001, ANN201
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, slot_types=slot_types,
                         slot_positions=slot_positions, ngram_ids=ngram_ids)
        gates = out.get("gates", torch.ones_like(input_ids, dtype=out["domain_logits"].dtype))
        return out["domain_logits"], out["intent_logits"], gates


class _MeanBag(torch.nn.Module):
    """``EmbeddingBag(mode="mean", padding_idx=0)`` as a gather and a masked mean: the ONNX exporter has no
    symbolic for an embedding bag with a padding index. Same numbers (all-padding rows give zeros)."""

    def __init__(self, bag: torch.nn.EmbeddingBag) -> None:
        super().__init__()
        self.weight = bag.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != 0).unsqueeze(-1).to(self.weight.dtype)
        return (self.weight[ids] * keep).sum(1) / keep.sum(1).clamp(min=1)


class _ContextLayer(torch.nn.Module):
    """The pre-norm ``nn.TransformerEncoderLayer`` (ReLU, eval mode) written out with
    ``scaled_dot_product_attention``: traced through ``nn.MultiheadAttention``'s self-attention path, the
    exporter bakes the example's sequence length into a reshape, and the graph then fails on any other."""

    def __init__(self, layer: torch.nn.TransformerEncoderLayer) -> None:
        super().__init__()
        self.layer, self.heads = layer, layer.self_attn.num_heads

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor) -> torch.Tensor:
        layer, (b, t, d) = self.layer, x.shape
        attn = layer.self_attn
        q, k, v = torch.nn.functional.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        allowed = (~src_key_padding_mask)[:, None, None, :]
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + attn.out_proj(a.transpose(1, 2).reshape(b, t, d))
        return x + layer.linear2(torch.relu(layer.linear1(layer.norm2(x))))


def export_intent(model: SlotAwareIntentModel, path: Path) -> None:
    """One graph, dynamic batch, sequence and n-gram axes (the slot-tag axis is the model's fixed max_tags).
    Two submodules are swapped for export-friendly equivalents while it traces, then put back."""
    swaps = {"context": _ContextLayer(model.context)}
    if model.ngrams is not None:
        swaps["ngrams"] = _MeanBag(model.ngrams)
    original = {name: getattr(model, name) for name in swaps}
    for name, module in swaps.items():
        setattr(model, name, module)
    try:
        _export_intent(model, path)
    finally:
        for name, module in original.items():
            setattr(model, name, module)


def _export_intent(model: SlotAwareIntentModel, path: Path) -> None:
    from models.common.slot_fusion import export_example

    example = export_example(model.head_config.max_tags)
    axes = {name: {0: "batch", 1: "seq"} for name in example}
    if model.ngrams is not None:
        example["ngram_ids"] = torch.ones((3, 5), dtype=torch.long)
        axes["ngram_ids"] = {0: "batch", 1: "ngrams"}
    axes.update({"domain_logits": {0: "batch"}, "intent_logits": {0: "batch"}, "gates": {0: "batch", 1: "seq"}})
    export(_OutputsTuple(model), example, ["domain_logits", "intent_logits", "gates"], path, axes)
