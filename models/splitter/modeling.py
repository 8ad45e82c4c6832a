"""The boundary tagger: does a sentence end after this character?

    [CLS] c1..cn [SEP] (+ the gazetteer tags' embeddings, ``fusion: input``)
        -> BERT (the lowest ``encoder_layers`` layers of the shared encoder) -> H
    H = LayerNorm(W [H; left/right bigram embeddings])   (``bigram_dim: 0`` drops the bigrams)
    logit_i = MLP([h_i; h_i+1])        both sides of the gap between character i and i+1

Why the pair: a boundary is a property of a gap, not of a character; giving the classifier the states on
both sides lets it see "怎么样 | 我想" directly instead of hoping one side encodes the other.

Why the gazetteer: a gap right after a complete name reads like the middle of one to a model that does not
know the name (我想听周杰伦的稻香 | 明天…: 稻香 is a song, so 香明 is no word). The tags join the character
embeddings (``models.common.slot_fusion.SlotTagEmbedding``), so every layer reads them in context and learns
how far to trust them; tag dropout in training keeps it from relying on them where a name is missing.

Loss: binary cross-entropy on the 0/1 labels; with ``soft_labels`` (distillation) it is
``soft_weight * BCE(soft) + (1 - soft_weight) * BCE(hard)``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel

from models.common.bigrams import BigramFusion
from models.common.slot_fusion import SlotTagEmbedding
from models.encoder.modeling import copy_encoder_weights, truncated_config
from models.splitter.config import CONFIG_FILE, WEIGHTS_FILE, HeadConfig, SplitterCheckpoint

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "HeadConfig", "SplitterModel", "build_model"]


class SplitterModel(SplitterCheckpoint, BigramFusion, nn.Module):
    """The network; file names, type tag and head config come from ``config.py`` (read without transformers)."""

    def __init__(self, encoder_config: BertConfig, head: HeadConfig) -> None:
        super().__init__()
        d = self.init_encoder(encoder_config, head)
        if head.bigram_dim:
            self.init_bigram_fusion(d, head.n_bigrams, head.bigram_dim)
        self.tags = SlotTagEmbedding(d, len(head.slot_types) + 2, head.tag_pool) if head.fused else None
        self.dropout = nn.Dropout(head.dropout)
        self.head = nn.Sequential(nn.Linear(2 * d, head.mlp_dim), nn.GELU(), nn.Dropout(head.dropout),
                                  nn.Linear(head.mlp_dim, 1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, bigram_left: torch.Tensor | None = None,
                bigram_right: torch.Tensor | None = None, slot_types: torch.Tensor | None = None,
                slot_positions: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                soft_labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if self.tags is not None:
            embeds = self.encoder.embeddings.word_embeddings(input_ids) + self.tags(slot_types, slot_positions)
            h = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        else:
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.head_config.bigram_dim:
            h = self.fuse_bigrams(h, bigram_left, bigram_right)
        h = self.dropout(h)
        nxt = torch.cat([h[:, 1:], h[:, -1:]], dim=1)  # h_{i+1}; the last position is [SEP] or padding anyway
        logits = self.head(torch.cat([h, nxt], dim=-1)).squeeze(-1)
        out = {"logits": logits}
        if labels is not None:
            mask = labels >= 0
            x = logits.float()[mask]
            loss = nn.functional.binary_cross_entropy_with_logits(x, labels[mask])
            if soft_labels is not None and self.head_config.soft_weight:
                w = self.head_config.soft_weight
                soft = nn.functional.binary_cross_entropy_with_logits(x, soft_labels[mask].clamp(0, 1))
                loss = w * soft + (1 - w) * loss
            out["loss"] = loss
        return out


def build_model(encoder: BertModel, encoder_layers: int | None, head: HeadConfig) -> SplitterModel:
    """A splitter initialised from a pre-trained encoder, keeping its lowest ``encoder_layers`` layers."""
    model = SplitterModel(truncated_config(encoder, encoder_layers), head)
    copy_encoder_weights(model.encoder, encoder)
    return model
