"""Tag-grammar decoding: the best B/M/E/S path that is a valid segmentation.

Why not argmax: per-character argmax can produce ``B S`` or ``M`` at the start, which are not words. Viterbi
over the allowed transitions (B->M|E, M->M|E, E->B|S, S->B|S; start in B|S; end in E|S) returns the highest
scoring *valid* sequence of log-probabilities, batched over sentences of different lengths.

Numpy, float32 (the numbers torch computed before): decoding runs on either backend's logits, and the ONNX
path never imports torch for it.
"""

from __future__ import annotations

import numpy as np

from models.segmenter.features import B, E, M, S

NEG = -1e4
ALLOWED = {B: (M, E), M: (M, E), E: (B, S), S: (B, S)}


def transition_matrix() -> np.ndarray:
    """(4, 4) float32 additive scores: 0 where ``from -> to`` is allowed, a large negative number elsewhere."""
    trans = np.full((4, 4), NEG, dtype=np.float32)
    for src, dsts in ALLOWED.items():
        for dst in dsts:
            trans[src, dst] = 0.0
    return trans


_TRANS = transition_matrix()
_START = np.array([0.0, NEG, NEG, 0.0], dtype=np.float32)  # B or S
_END = np.array([NEG, NEG, 0.0, 0.0], dtype=np.float32)    # E or S
_ALLOWED_PAIRS = _TRANS == 0


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """float32 log-softmax over the last axis (max-shifted, as ``torch.log_softmax``)."""
    z = np.asarray(logits, dtype=np.float32)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def argmax_is_valid(tags: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(batch,) bool: the per-character argmax already obeys the grammar within each length."""
    n, steps = tags.shape
    if steps == 0:
        return np.ones(n, dtype=bool)
    inside = np.arange(steps)[None, :] < lengths[:, None]
    ok_pairs = _ALLOWED_PAIRS[tags[:, :-1], tags[:, 1:]] | ~inside[:, 1:]
    first_ok = (tags[:, 0] == B) | (tags[:, 0] == S) | (lengths == 0)
    last = np.take_along_axis(tags, np.clip(lengths - 1, 0, None)[:, None], axis=1)[:, 0]
    last_ok = (last == E) | (last == S) | (lengths == 0)
    return ok_pairs.all(axis=1) & first_ok & last_ok


def decode(log_probs: np.ndarray, lengths: np.ndarray) -> list[list[int]]:
    """Best valid tag paths; the argmax where it is already valid (then it is also the Viterbi path, and a
    trained model makes it so for most sentences), Viterbi for the rest."""
    log_probs, lengths = np.asarray(log_probs), np.asarray(lengths, dtype=np.int64)
    tags = log_probs.argmax(axis=-1)
    valid = argmax_is_valid(tags, lengths)
    paths: list[list[int]] = [tags[i, : int(lengths[i])].tolist() if valid[i] else [] for i in range(len(tags))]
    redo = np.flatnonzero(~valid)
    if len(redo):
        for i, path in zip(redo.tolist(), viterbi(log_probs[redo], lengths[redo]), strict=True):
            paths[i] = path
    return paths


def viterbi(log_probs: np.ndarray, lengths: np.ndarray) -> list[list[int]]:
    """Best valid tag paths. ``log_probs``: (batch, T, 4) over the characters only; ``lengths``: (batch,)."""
    log_probs = np.asarray(log_probs, dtype=np.float32)
    lengths = np.asarray(lengths, dtype=np.int64)
    n, steps, _ = log_probs.shape
    if steps == 0:
        return [[] for _ in range(n)]
    score = log_probs[:, 0] + _START  # (n, 4)
    back = np.zeros((n, steps, 4), dtype=np.int64)
    for t in range(1, steps):
        cand = score[:, :, None] + _TRANS  # (n, from, to)
        arg = cand.argmax(axis=1)
        new = np.take_along_axis(cand, arg[:, None, :], axis=1)[:, 0] + log_probs[:, t]
        score = np.where((t < lengths)[:, None], new, score)
        back[:, t] = arg
    final = score + _END
    return [_backtrack(back[i], int(final[i].argmax()), int(lengths[i])) for i in range(n)]


def _backtrack(back: np.ndarray, last: int, length: int) -> list[int]:
    """The path ending in tag ``last`` at ``length - 1``, read back through ``back`` (T, 4)."""
    if length == 0:
        return []
    path = [last]
    for t in range(length - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def is_valid(tags: list[int]) -> bool:
    """True when ``tags`` is a well-formed segmentation (used by tests and as a decode post-condition)."""
    if not tags:
        return True
    if tags[0] not in (B, S) or tags[-1] not in (E, S):
        return False
    return all(b in ALLOWED[a] for a, b in zip(tags, tags[1:], strict=False))
