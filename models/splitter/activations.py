"""The splitter's and request scorer's output activations in numpy, for the ONNX backends.

Why numpy: with a warm ONNX cache nothing else on those paths needs torch, and importing it costs seconds
of start-up. Both are computed in float64 and rounded to float32, the dtype the torch path returns, so they
are the correctly rounded values (torch's float32 kernels are within a rounding step of them).
"""

from __future__ import annotations

import numpy as np

__all__ = ["log_sigmoid", "sigmoid"]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-x)`` as float32; a very negative logit gives 0 rather than an overflow warning."""
    x = np.asarray(logits, dtype=np.float64)
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def log_sigmoid(logits: np.ndarray) -> np.ndarray:
    """``log(sigmoid(x)) = min(x, 0) - log1p(e^-|x|)`` as float32: stable for logits of either sign (the
    formula torch's ``logsigmoid`` uses)."""
    x = np.asarray(logits, dtype=np.float64)
    return (np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))).astype(np.float32)
