"""The response-selection model: how well does a candidate reply fit a query? A bi-encoder.

    query    [CLS] q1..qn [SEP]  (token type 0) -> BERT (lowest layers of the shared encoder) -> mean -> L2 -> q
    response [CLS] r1..rm [SEP]  (token type 1) -> the same BERT                              -> mean -> L2 -> r
    score = cos(q, r)

Why a bi-encoder and not a cross-encoder: the rank stage scores about ten candidates per query at batch 1
inside the reply's 100 ms budget, after the generator has already spent most of it; two short encodes of a
2-layer model cost a few milliseconds. The token type tells the shared encoder which side it reads, so one set
of weights can still learn an asymmetric fit (a question and its answer are not paraphrases).

Training (``selection_train.py``) is contrastive with in-batch negatives: each query's own response against
the other responses of the batch, both directions, a response equal to the positive masked out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel

from models.common.padding import pad_rows
from models.encoder.modeling import copy_encoder_weights, truncated_config
from models.reply.features import ReplyTokenizer
from models.reply.selection_config import SelectionCheckpoint, SelectionEncoder, SelectionHeadConfig

QUERY, RESPONSE = 0, 1   # token types


class SelectionModel(SelectionCheckpoint, nn.Module):
    def __init__(self, encoder_config: BertConfig, head: SelectionHeadConfig) -> None:
        super().__init__()
        self.init_encoder(encoder_config, head)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, side: int | torch.Tensor
              ) -> torch.Tensor:
        """Unit vectors (B, H): the mean of the real positions' last hidden states. ``side`` is ``QUERY`` or
        ``RESPONSE``, or the token types themselves (the exported graph takes them as an input)."""
        types = torch.full_like(input_ids, side) if isinstance(side, int) else side
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=types).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(h.dtype)
        mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1)
        return nn.functional.normalize(mean.float(), dim=-1)

    def contrastive_loss(self, query: tuple[torch.Tensor, torch.Tensor], response: tuple[torch.Tensor, torch.Tensor],
                         same: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE over the batch; ``same`` (B, B) marks pairs whose responses are equal, which are
        not negatives (generic replies such as 哈哈哈 recur within a batch)."""
        q, r = self.embed(*query, QUERY), self.embed(*response, RESPONSE)
        logits = q @ r.t() / self.head_config.temperature
        off_diagonal = same & ~torch.eye(len(q), dtype=torch.bool, device=same.device)
        logits = logits.masked_fill(off_diagonal, float("-inf"))
        target = torch.arange(len(q), device=q.device)
        return (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.t(), target)) / 2


def build_selection(encoder: BertModel, encoder_layers: int | None, head: SelectionHeadConfig) -> SelectionModel:
    """The lowest ``encoder_layers`` layers of the pre-trained encoder under a selection head."""
    model = SelectionModel(truncated_config(encoder, encoder_layers), head)
    copy_encoder_weights(model.encoder, encoder)
    return model


def pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and their attention mask, as torch tensors (``models.common.padding``)."""
    ids, mask = pad_rows(rows, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)


class ResponseSelector:
    """A trained selection model with its tokenizer: cosine scores of candidate replies for queries."""

    def __init__(self, model: SelectionModel, tokenizer: ReplyTokenizer) -> None:
        self.model = model.eval()
        self.encode = SelectionEncoder(tokenizer, model.head_config)
        self.pad_id = tokenizer.pad_token_id or 0

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> ResponseSelector:
        return cls(SelectionModel.load(folder), ReplyTokenizer(folder))

    @torch.no_grad()
    def embed(self, texts: Sequence[str], side: int, batch_size: int = 256) -> torch.Tensor:
        """Unit vectors (N, H) of queries (``QUERY``) or responses (``RESPONSE``)."""
        encode = self.encode.query if side == QUERY else self.encode.response
        parts = [self.model.embed(*pad([encode(t) for t in texts[i : i + batch_size]], self.pad_id), side)
                 for i in range(0, len(texts), batch_size)]
        return torch.cat(parts) if parts else torch.zeros((0, self.model.encoder_config.hidden_size))

    def scores(self, queries: Sequence[str], candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        """Per query, the cosine of each of its candidates (all candidates of the batch encoded at once)."""
        q = self.embed(queries, QUERY)
        flat = [c for cands in candidates for c in cands]
        r = self.embed(flat, RESPONSE)
        out, start = [], 0
        for i, cands in enumerate(candidates):
            out.append((r[start : start + len(cands)] @ q[i]).tolist())
            start += len(cands)
        return out
