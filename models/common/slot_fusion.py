"""Gated slot attention: gazetteer tags fused into a text encoder's states, shared by the intent classifier
and the slot tagger.

    S  = pool_k( E_type[t_ik] + E_pos[p_ik] )                          n x d_s   (several slot types per char)
    S~ = MultiHeadAttn(query = W_h H, key = value = W_s S)  -> W_o     n x d     (slot-aware features)
    g  = sigmoid(W_g [H; S~] + b)                                      n x d     (per position and feature)
    F  = g * H + (1 - g) * S~

Why a gate: gazetteer labels are noisy (愤怒的小鸟 is an app *and* a dish), so a model has to learn per
position how far to trust them; ``g`` makes that explicit and can be returned for inspection.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from models.common.slot_tags import PAD_TYPE


class FusionConfig(Protocol):
    tag_pool: str      # mean | max over the tags of one character
    slot_dim: int      # d_s
    attn_dim: int      # the shared space of W_h H and W_s S
    attn_heads: int
    dropout: float


def pool_tags(e: torch.Tensor, types: torch.Tensor, tag_pool: str) -> torch.Tensor:
    """(B, T, K, d) embeddings of each character's K tags -> (B, T, d): their mean or max, padding left out."""
    present = (types != PAD_TYPE).unsqueeze(-1)
    if tag_pool == "max":
        return e.masked_fill(~present, -1e4).amax(dim=2).masked_fill(~present.any(dim=2), 0.0)
    return (e * present).sum(dim=2) / present.sum(dim=2).clamp(min=1)


class SlotTagEmbedding(nn.Module):
    """Per character, the pooled embedding of its gazetteer tags (type + B/I position), in the encoder's width:
    added to the character embeddings, so every encoder layer reads the tags at their own position (a per-gap
    decision, such as the boundary tagger's, needs to know which characters are tagged, which the attention
    above, keyed by tag content alone, does not say). Small initial weights: the pre-trained encoder starts
    from what it knew."""

    def __init__(self, d: int, n_types: int, tag_pool: str = "mean") -> None:
        super().__init__()
        self.tag_pool = tag_pool
        self.type_embed = nn.Embedding(n_types, d, padding_idx=PAD_TYPE)
        self.position_embed = nn.Embedding(3, d)   # none, B, I
        for table in (self.type_embed, self.position_embed):
            nn.init.normal_(table.weight, std=0.02)
        with torch.no_grad():
            self.type_embed.weight[PAD_TYPE].zero_()

    def forward(self, types: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return pool_tags(self.type_embed(types) + self.position_embed(positions), types, self.tag_pool)


class GatedSlotAttention(nn.Module):
    """S -> S~ by attention from the text, then the per-position gate. Returns the fused sequence and g."""

    def __init__(self, d: int, head: FusionConfig, n_types: int) -> None:
        super().__init__()
        self.tag_pool = head.tag_pool
        self.type_embed = nn.Embedding(n_types, head.slot_dim, padding_idx=PAD_TYPE)
        self.position_embed = nn.Embedding(3, head.slot_dim)   # none, B, I
        self.text_proj = nn.Linear(d, head.attn_dim)
        self.slot_proj = nn.Linear(head.slot_dim, head.attn_dim)
        self.attn = nn.MultiheadAttention(head.attn_dim, head.attn_heads, dropout=head.dropout, batch_first=True)
        self.out_proj = nn.Linear(head.attn_dim, d)
        self.gate = nn.Linear(2 * d, d)
        nn.init.constant_(self.gate.bias, 1.0)   # start by trusting the text (g ~ 0.73), let training open it

    def slot_embeddings(self, types: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, T, K) tag ids -> (B, T, d_s), pooling the K tags of each character."""
        return pool_tags(self.type_embed(types) + self.position_embed(positions), types, self.tag_pool)

    def forward(self, h: torch.Tensor, types: torch.Tensor, positions: torch.Tensor, pad: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.slot_embeddings(types, positions)
        s_tilde, _ = self.attn(self.text_proj(h), self.slot_proj(s), self.slot_proj(s), key_padding_mask=pad,
                               need_weights=False)
        s_tilde = self.out_proj(s_tilde)
        g = torch.sigmoid(self.gate(torch.cat([h, s_tilde], dim=-1)))
        return g * h + (1 - g) * s_tilde, g


def export_example(max_tags: int) -> dict[str, torch.Tensor]:
    """Example inputs of a slot-fused encoder (batch 3, 7 characters, ``max_tags`` tags each) to trace an
    ONNX export with: the inputs the intent and slot graphs share; each adds its own after them."""
    return {"input_ids": torch.full((3, 7), 5, dtype=torch.long),
            "attention_mask": torch.ones((3, 7), dtype=torch.long),
            "slot_types": torch.ones((3, 7, max_tags), dtype=torch.long),
            "slot_positions": torch.zeros((3, 7, max_tags), dtype=torch.long)}
