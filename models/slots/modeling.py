"""The slot tagger: BIO tags per character from the encoder, with gazetteer tags fused in by gated attention.

    H  = BERT([CLS] c1..cn [SEP]) + W_b (E[c_{i-1}c_i] + E[c_i c_{i+1}])  n x d  (hashed char bigrams)
    F, g = GatedSlotAttention(H, gazetteer tags)                        n x d  (models/common/slot_fusion.py)
    logits = W F                                                        n x (1 + 2 |labels|)   O, B-x, I-x
    p(y | x) ∝ exp(sum_i logits[i, y_i] + A[y_{i-1}, y_i])              linear-chain CRF (``crf: true``)
    z  = [F_cls; mean(F)] -> domain head, intent head                   joint model only (``domains``)

The joint variant answers intent and slots from one encoder pass (JointBERT's layout); ``bench/slots_model.py``
compares it with the shipped pair of models (the slot-aware intent classifier plus this tagger).

Why fuse the gazetteer instead of only merging its matches afterwards: an entity the model never saw in
training is found once a lexicon lists it (the tag is an input), while a noisy match (愤怒的小鸟: an app and a
dish) is weighed by its context, which a string matcher cannot do. ``fusion: none`` is the text-only ablation.
Why the bigrams and the CRF: spans are decided by their boundaries, and a small encoder's per-character
softmax cuts a span it has found in two (100-150元 -> 100- / 1 / 50元); bigram embeddings give each position
its local word shape and the CRF scores the whole tag path. Decoding is Viterbi over logits + transitions
(``inference.py``) with one hard constraint: an ``I-x`` only follows ``B-x``/``I-x``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers import BertConfig, BertModel

from models.common.persistence import WEIGHTS_FILE
from models.common.slot_fusion import GatedSlotAttention
from models.encoder.modeling import copy_encoder_weights, truncated_config
from models.slots.config import CONFIG_FILE, FUSIONS, SlotCheckpoint, SlotHeadConfig, illegal_transitions

__all__ = ["CONFIG_FILE", "FUSIONS", "WEIGHTS_FILE", "SlotHeadConfig", "SlotTaggerModel", "build_model",
           "illegal_transitions"]


class SlotTaggerModel(SlotCheckpoint, nn.Module):
    def __init__(self, encoder_config: BertConfig, head: SlotHeadConfig) -> None:
        super().__init__()
        d = self.init_encoder(encoder_config, head)
        self.fusion = GatedSlotAttention(d, head, len(head.slot_types) + 2) if head.fusion == "gated" else None
        self.dropout = nn.Dropout(head.dropout)
        self.classifier = nn.Linear(d, len(head.tags))
        self.bigrams = None
        if head.bigram_buckets:
            self.bigrams = nn.Embedding(head.bigram_buckets + 1, head.bigram_dim, padding_idx=0)
            self.bigram_proj = nn.Linear(head.bigram_dim, d)
        pooled = 2 * d
        self.domain_head = nn.Linear(pooled, len(head.domains)) if head.domains else None
        self.intent_head = nn.Linear(pooled, len(head.intents)) if head.intents else None
        n = len(head.tags)
        # row n is the start state; -1e4 where the transition is illegal (I-x after anything but B-x/I-x)
        self.transitions = nn.Parameter(torch.zeros(n + 1, n)) if head.crf else None
        self.register_buffer("illegal", torch.tensor(illegal_transitions(head.tags)), persistent=False)

    def crf_transitions(self) -> torch.Tensor:
        assert self.transitions is not None
        return self.transitions.masked_fill(self.illegal, -1e4)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, slot_types: torch.Tensor | None = None,
                slot_positions: torch.Tensor | None = None, bigram_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, domain_labels: torch.Tensor | None = None,
                intent_labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state   # (B, T, d)
        if self.bigrams is not None and bigram_ids is not None:
            h = h + self.bigram_proj(self.bigrams(bigram_ids).sum(dim=2))                          # (B, T, 2) ids
        gates = None
        if self.fusion is not None:
            h, g = self.fusion(h, slot_types, slot_positions, attention_mask == 0)
            gates = g.mean(dim=-1)                                                                 # (B, T)
        out = {"logits": self.classifier(self.dropout(h))}                                         # (B, T, tags)
        if gates is not None:
            out["gates"] = gates
        if self.domain_head is not None or self.intent_head is not None:
            keep = attention_mask.unsqueeze(-1).to(h.dtype)
            z = self.dropout(torch.cat([h[:, 0], (h * keep).sum(1) / keep.sum(1).clamp(min=1)], dim=-1))
            if self.domain_head is not None:
                out["domain_logits"] = self.domain_head(z)
            if self.intent_head is not None:
                out["intent_logits"] = self.intent_head(z)
        if labels is not None:
            if not bool((labels != -100).any()):
                loss = out["logits"].new_zeros(())
            elif self.transitions is None:
                loss = F.cross_entropy(out["logits"].float().flatten(0, 1), labels.flatten(), ignore_index=-100)
            else:
                loss = self.crf_nll(out["logits"].float(), labels)
            for key, gold in (("domain_logits", domain_labels), ("intent_logits", intent_labels)):
                if key in out and gold is not None and bool((gold != -100).any()):
                    loss = loss + F.cross_entropy(out[key].float(), gold, ignore_index=-100)
            out["loss"] = loss
        return out

    def crf_nll(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of the gold paths over the tagged rows; the tagged positions (labels !=
        -100) are contiguous from position 1 ([CLS] is 0), so every path starts there. A row with no tagged
        position (a text without slot annotation, in the joint model) adds nothing."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return self._crf_nll(logits.float(), labels)

    def _crf_nll(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        trans = self.crf_transitions().float()
        start, step = trans[-1], trans[:-1]                                                # (K,), (K, K)
        # the forward recursion as a matrix product in probability space (shifted by the row maximum):
        # logsumexp over a (B, K, K) broadcast is several times slower on CPU, for the same numbers
        step_max = step.max()
        exp_step = torch.exp(step - step_max)                                              # (K, K)
        mask = labels != -100                                                              # (B, T)
        y = labels.clamp(min=0)
        alpha = start + logits[:, 1]                                                       # (B, K)
        gold = start[y[:, 1]] + logits[:, 1].gather(1, y[:, 1:2]).squeeze(1)               # (B,)
        for t in range(2, logits.shape[1]):
            m = mask[:, t]
            a_max = alpha.max(dim=1, keepdim=True).values
            nxt = torch.log(torch.exp(alpha - a_max) @ exp_step + 1e-30) + a_max + step_max + logits[:, t]
            alpha = torch.where(m.unsqueeze(1), nxt, alpha)
            gain = step[y[:, t - 1], y[:, t]] + logits[:, t].gather(1, y[:, t:t + 1]).squeeze(1)
            gold = gold + gain * m
        rows = mask[:, 1].to(alpha.dtype)
        return ((torch.logsumexp(alpha, dim=1) - gold) * rows).sum() / rows.sum().clamp(min=1)


def build_model(encoder: BertModel, head: SlotHeadConfig, layers: int | None = None) -> SlotTaggerModel:
    """A fresh tagger on a pre-trained encoder (its lowest ``layers`` layers; None keeps all)."""
    model = SlotTaggerModel(truncated_config(encoder, layers), head)
    copy_encoder_weights(model.encoder, encoder)
    return model
