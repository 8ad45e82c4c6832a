"""The multi-granularity segmenter: one network, B/M/E/S tags for ``[FINE]`` or ``[COARSE]`` on request.

    [CLS] [G] c1..cn [SEP] -> BERT (the lowest ``encoder_layers`` layers of the shared encoder) -> H
    left/right character-bigram embeddings -> Bg
    wordhood bits L (``wordhood.py``)            (``wordhood_sources: []`` drops them)
    embeddings += W_in L                          every encoder layer sees which listed words cover a character
    fused = LayerNorm(W [H; Bg])                  (``bigram_dim: 0`` drops the bigrams: fused = H)
    fused += sigmoid(W_g [fused; W_out L]) * W_out L   a gate: the granularity in H picks which lists to believe
    fused = LayerNorm(fused + MHA(fused))         (``mha_heads: 0`` drops the layer)
    tags  = MLP(fused)                            B/M/E/S logits per character
    aux   = Linear(H[CLS]) -> granularity         multi-task loss, weight ``aux_weight``

Why these pieces: the granularity token lets one encoder serve both standards; bigrams carry the strongest
word-formation signal cheaply (a lookup, no FLOPs); the extra attention layer sees the fused bigram evidence
of the neighbours before tagging; the auxiliary task makes the [CLS] state (and through attention every
position) encode which standard is asked for. Truncating the encoder buys speed: segmentation is a local
task and the lower layers carry most of it (measured in the model card's ablation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertModel

from models.common.bigrams import BigramFusion
from models.common.persistence import WEIGHTS_FILE
from models.encoder.modeling import copy_encoder_weights, truncated_config
from models.segmenter.config import CONFIG_FILE, HeadConfig, SegmenterCheckpoint
from models.segmenter.features import WORDHOOD_FEATURES

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "HeadConfig", "SegmenterModel", "SelfAttention", "build_model"]


class SelfAttention(nn.Module):
    """Multi-head self-attention through ``scaled_dot_product_attention`` (fused kernels; ``nn.MultiheadAttention``
    with a padding mask took a slow path and cost as much as two encoder layers on CPU)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by mha_heads={heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        keep = attention_mask[:, None, None, :].bool()  # (n, 1, 1, t): attend to real tokens only
        y = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep,
                                                       dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(n, t, d))


class SegmenterModel(SegmenterCheckpoint, BigramFusion, nn.Module):
    def __init__(self, encoder_config: BertConfig, head: HeadConfig) -> None:
        super().__init__()
        d = self.init_encoder(encoder_config, head)
        if head.bigram_dim:
            self.init_bigram_fusion(d, head.n_bigrams, head.bigram_dim)
        if head.reads_wordhood:
            self.wordhood_in = nn.Linear(WORDHOOD_FEATURES, d)
            self.wordhood_out = nn.Linear(WORDHOOD_FEATURES, d)
            self.wordhood_gate = nn.Linear(2 * d, d)
        if head.mha_heads:
            self.mha = SelfAttention(d, head.mha_heads, head.dropout)
            self.mha_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(head.dropout)
        self.decoder = nn.Sequential(nn.Linear(d, head.mlp_dim), nn.GELU(), nn.Dropout(head.dropout),
                                     nn.Linear(head.mlp_dim, head.n_tags))
        self.aux = nn.Linear(d, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, bigram_left: torch.Tensor | None = None,
                bigram_right: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                granularity: torch.Tensor | None = None, lexicon: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        wordhood = self.head_config.reads_wordhood
        if wordhood and lexicon is None:
            raise ValueError("this segmenter reads wordhood features: pass lexicon (collate_numpy builds it)")
        if wordhood:
            lexicon = lexicon.to(self.wordhood_in.weight.dtype)
            embeds = self.encoder.embeddings.word_embeddings(input_ids) + self.wordhood_in(lexicon)
            hidden = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        x = hidden
        if self.head_config.bigram_dim:
            x = self.fuse_bigrams(hidden, bigram_left, bigram_right)
        if wordhood:
            lex = self.wordhood_out(lexicon)
            x = x + torch.sigmoid(self.wordhood_gate(torch.cat([x, lex], dim=-1))) * lex
        x = self.dropout(x)
        if self.head_config.mha_heads:
            x = self.mha_norm(x + self.dropout(self.mha(x, attention_mask)))
        logits = self.decoder(x)
        out = {"logits": logits}
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1))
            if self.head_config.aux_weight and granularity is not None:
                aux = nn.functional.cross_entropy(self.aux(hidden[:, 0]).float(), granularity)
                loss = loss + self.head_config.aux_weight * aux
            out["loss"] = loss
        return out


def build_model(encoder: BertModel, encoder_layers: int | None, head: Mapping[str, Any], n_bigrams: int
                ) -> SegmenterModel:
    """A segmenter initialised from a pre-trained encoder, keeping its lowest ``encoder_layers`` layers."""
    model = SegmenterModel(truncated_config(encoder, encoder_layers), HeadConfig(n_bigrams=n_bigrams, **dict(head)))
    copy_encoder_weights(model.encoder, encoder)
    return model
