"""Right-padding of id rows into a batch: one numpy implementation for ONNX Runtime and torch alike.

Why numpy: the ONNX paths take the arrays as they are and never import torch; the torch paths wrap the same
arrays (``torch.from_numpy``), so both backends see the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` as int64 arrays, padded with ``pad_id`` to the longest row."""
    width = max(map(len, rows))
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask
