"""A plain text classifier for few-shot domain classification: encoder -> [CLS; mean] -> linear.

Why a second classifier next to the slot-aware one (``modeling.py``): with ten examples per class the
slot-aware head (fusion attention, a context transformer layer, an n-gram bag: ~0.5 M new parameters) is
itself the thing that overfits, and it would dominate the stored size of a BitFit or adapter task. Here the
only new parameters are one linear layer (2d x classes), so what a fine-tuning method trains is what
decides the result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.common.char_ids import CharIds
from models.common.padding import pad_rows
from models.common.precision import length_batches
from models.normalization import normalize


def encode_text_ids(text: str, char_ids: CharIds, max_chars: int = 64) -> list[int]:
    """``[CLS] c1 … cn [SEP]`` for the normalized text, cut to ``max_chars`` characters."""
    return char_ids.encode(list(normalize(text))[:max_chars]).tolist()


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` padded to the longest row (``models.common.padding``)."""
    ids, mask = pad_rows(rows, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)


class TextClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * encoder.config.hidden_size, n_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        keep = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = torch.cat([h[:, 0], (h * keep).sum(1) / keep.sum(1).clamp(min=1)], dim=-1)
        return self.head(self.dropout(pooled))

    def loss(self, rows: Sequence[Sequence[int]], targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against label indices (long) or a label distribution (float, for distillation)."""
        logits = self(*pad_batch(rows))
        if targets.is_floating_point():
            return -(targets * F.log_softmax(logits, -1)).sum(-1).mean()
        return F.cross_entropy(logits, targets)

    @torch.inference_mode()
    def probabilities(self, rows: Sequence[Sequence[int]], batch_chars: int = 8192) -> np.ndarray:
        """Softmax over the labels, in input order (batched by length, ``length_batches``)."""
        self.eval()
        out = np.zeros((len(rows), self.head.out_features), np.float32)
        for idx in length_batches([len(r) for r in rows], batch_chars):
            out[idx] = F.softmax(self(*pad_batch([rows[i] for i in idx])), -1).numpy()
        return out
