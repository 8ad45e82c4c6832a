"""The soft-label cache of distillation: read back exactly, and never a way to run code."""


import numpy as np
import torch

from models.common.distill import cached_labels


class _Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_labels_round_trip_with_their_types(tmp_path):
    path = tmp_path / "soft_labels.pt"
    intent_like = [(np.array([0.25, 0.75], dtype=np.float32), np.array([1.0], dtype=np.float32))] * 3
    assert cached_labels(path, "k1", lambda: intent_like) is intent_like
    again = cached_labels(path, "k1", lambda: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert isinstance(again[0][0], np.ndarray) and again[0][0].dtype == np.float32
    assert [(a.tolist(), b.tolist()) for a, b in again] == [(a.tolist(), b.tolist()) for a, b in intent_like]
    splitter_like = [[0.1, 0.9], [0.5]]
    assert cached_labels(path, "k2", lambda: splitter_like) == splitter_like  # new key: recomputed
    assert cached_labels(path, "k2", lambda: []) == splitter_like


def test_a_planted_pickle_is_recomputed_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "soft_labels.pt"
    torch.save({"key": "k", "labels": _Planted(marker)}, path)
    assert cached_labels(path, "k", lambda: [[0.5]]) == [[0.5]]
    assert not marker.exists()
    assert cached_labels(path, "k", lambda: []) == [[0.5]]  # and the rewritten file is the real one
