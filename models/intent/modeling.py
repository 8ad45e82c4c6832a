"""The slot-aware intent classifier: gazetteer labels fused into BERT by gated slot attention.

    H  = BERT([CLS] c1..cn [SEP])                                      n x d
    S  = pool_k( E_type[t_ik] + E_pos[p_ik] )                          n x d_s   (several slot types per char)
    S~ = MultiHeadAttn(query = W_h H, key = value = W_s S)  -> W_o     n x d     (slot-aware features)
    g  = sigmoid(W_g [H; S~] + b)                                      n x d     (per position and feature)
    F  = g * H + (1 - g) * S~
    C  = TransformerEncoderLayer(F)                                     context over the fused sequence
    z  = [C_cls; mean(C) (; bag of hashed char 2/3-grams)]  -> domain head, intent head

Why attention and a gate instead of slot tokens in the input: BERT never saw slot tags in pre-training, and
gazetteer labels are noisy (愤怒的小鸟 is an app *and* a dish), so the model has to learn per position how far
to trust them; the gate makes that explicit and is returned for inspection (``gates``: mean of g per
character, 1 = text only, lower = leaning on the slot evidence).

``fusion``: ``gated`` (the above), ``none`` (S is never built: the text-only ablation) or ``tokens`` (slot
types as extra input tokens, built by ``features.encode_text``; the model itself is then text-only).
Two heads share everything below them: ``domain`` over every dataset's domains, and ``intent`` over SMP2019's
``domain/intent`` labels; each example contributes the losses its dataset labels (``-100`` elsewhere).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import BertConfig, BertModel

from models.common.persistence import WEIGHTS_FILE, SavableModel
from models.common.slot_fusion import GatedSlotAttention
from models.encoder.modeling import copy_encoder_weights, truncated_config
from models.intent.config import CONFIG_FILE, FUSIONS, MODEL_TYPE, POOLS, TRAIN_COMMAND, HeadConfig

# the light names live in models.intent.config (no transformers); re-exported here for compatibility
__all__ = ["CONFIG_FILE", "FUSIONS", "MODEL_TYPE", "POOLS", "TRAIN_COMMAND", "WEIGHTS_FILE", "GatedSlotAttention",
           "HeadConfig", "SlotAwareIntentModel", "build_model"]


class SlotAwareIntentModel(SavableModel, nn.Module):
    CONFIG_FILE = CONFIG_FILE
    MODEL_TYPE = MODEL_TYPE
    HEAD_CONFIG = HeadConfig
    TRAIN_COMMAND = TRAIN_COMMAND

    def __init__(self, encoder_config: BertConfig, head: HeadConfig) -> None:
        super().__init__()
        d = self.init_encoder(encoder_config, head)
        self.fusion = GatedSlotAttention(d, head, len(head.slot_types) + 2) if head.fusion == "gated" else None
        self.context = nn.TransformerEncoderLayer(d, head.context_heads, dim_feedforward=2 * d,
                                                  dropout=head.dropout, batch_first=True, norm_first=True)
        self.dropout = nn.Dropout(head.dropout)
        pooled = 2 * d
        self.ngrams = None
        if head.ngram_buckets:
            self.ngrams = nn.EmbeddingBag(head.ngram_buckets + 1, head.ngram_dim, mode="mean", padding_idx=0)
            pooled += head.ngram_dim
        self.domain_head = nn.Linear(pooled, max(1, len(head.domains)))
        self.intent_head = nn.Linear(pooled, max(1, len(head.intents)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, slot_types: torch.Tensor | None = None,
                slot_positions: torch.Tensor | None = None, ngram_ids: torch.Tensor | None = None,
                domain_labels: torch.Tensor | None = None, intent_labels: torch.Tensor | None = None,
                domain_soft: torch.Tensor | None = None, intent_soft: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pad = attention_mask == 0
        gates = None
        if self.fusion is not None:
            h, g = self.fusion(h, slot_types, slot_positions, pad)
            gates = g.mean(dim=-1)
        c = self.context(h, src_key_padding_mask=pad)
        keep = attention_mask.unsqueeze(-1).to(c.dtype)
        parts = [c[:, 0], (c * keep).sum(1) / keep.sum(1).clamp(min=1)]
        if self.ngrams is not None:
            parts.append(self.ngrams(ngram_ids).to(c.dtype))
        pooled = self.dropout(torch.cat(parts, dim=-1))
        out = {"domain_logits": self.domain_head(pooled), "intent_logits": self.intent_head(pooled)}
        if gates is not None:
            out["gates"] = gates
        if domain_labels is not None or intent_labels is not None:
            out["loss"] = self.loss(out, domain_labels, intent_labels)
            if domain_soft is not None and intent_soft is not None and self.head_config.soft_weight:
                w = self.head_config.soft_weight
                out["loss"] = (1 - w) * out["loss"] + w * self.soft_loss(out, domain_soft, intent_soft)
        return out

    def soft_loss(self, out: dict[str, torch.Tensor], domain_soft: torch.Tensor, intent_soft: torch.Tensor
                  ) -> torch.Tensor:
        """Cross-entropy against the teachers' averaged probabilities, both heads, every example: a teacher's
        distribution also says which wrong labels are close, which the hard labels cannot."""
        total = out["domain_logits"].new_zeros(())
        for logits, target, weight in ((out["domain_logits"], domain_soft, 1.0),
                                       (out["intent_logits"], intent_soft, self.head_config.intent_weight)):
            log_p = F.log_softmax(logits.float(), dim=-1)
            total = total - weight * (target.float() * log_p).sum(-1).mean()
        return total

    def loss(self, out: dict[str, torch.Tensor], domain_labels: torch.Tensor | None,
             intent_labels: torch.Tensor | None) -> torch.Tensor:
        """Mean cross-entropy of each head over the examples it has labels for (a head with none adds 0)."""
        total = out["domain_logits"].new_zeros(())
        smoothing = self.head_config.label_smoothing
        for logits, labels, weight in ((out["domain_logits"], domain_labels, 1.0),
                                       (out["intent_logits"], intent_labels, self.head_config.intent_weight)):
            if labels is not None and bool((labels != -100).any()):
                total = total + weight * F.cross_entropy(logits.float(), labels, ignore_index=-100,
                                                         label_smoothing=smoothing)
        return total


def build_model(encoder: BertModel, head: HeadConfig, layers: int | None = None) -> SlotAwareIntentModel:
    """A fresh classifier on top of a pre-trained encoder (the lowest ``layers`` layers; None keeps all)."""
    model = SlotAwareIntentModel(truncated_config(encoder, layers), head)
    copy_encoder_weights(model.encoder, encoder)
    return model
