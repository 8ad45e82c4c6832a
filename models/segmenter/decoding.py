"""Tag-grammar decoding: the best B/M/E/S path that is a valid segmentation.

Why not argmax: per-character argmax can produce ``B S`` or ``M`` at the start, which are not words. Viterbi
over the allowed transitions (B->M|E, M->M|E, E->B|S, S->B|S; start in B|S; end in E|S) returns the highest
scoring *valid* sequence of log-probabilities, batched over sentences of different lengths.
"""

from __future__ import annotations

import torch

from models.segmenter.features import B, E, M, S

NEG = -1e4
ALLOWED = {B: (M, E), M: (M, E), E: (B, S), S: (B, S)}


def transition_matrix() -> torch.Tensor:
    """(4, 4) additive scores: 0 where ``from -> to`` is allowed, a large negative number elsewhere."""
    trans = torch.full((4, 4), NEG)
    for src, dsts in ALLOWED.items():
        for dst in dsts:
            trans[src, dst] = 0.0
    return trans


_TRANS = transition_matrix()
_START = torch.tensor([0.0, NEG, NEG, 0.0])  # B or S
_END = torch.tensor([NEG, NEG, 0.0, 0.0])    # E or S


_ALLOWED_PAIRS = (transition_matrix() == 0)


def argmax_is_valid(tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(batch,) bool: the per-character argmax already obeys the grammar within each length."""
    n, steps = tags.shape
    if steps == 0:
        return torch.ones(n, dtype=torch.bool)
    positions = torch.arange(steps)
    inside = positions.unsqueeze(0) < lengths.unsqueeze(1)
    ok_pairs = _ALLOWED_PAIRS[tags[:, :-1], tags[:, 1:]] | ~inside[:, 1:]
    first_ok = (tags[:, 0] == B) | (tags[:, 0] == S) | (lengths == 0)
    last = tags.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
    last_ok = (last == E) | (last == S) | (lengths == 0)
    return ok_pairs.all(dim=1) & first_ok & last_ok


def decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best valid tag paths; the argmax where it is already valid (then it is also the Viterbi path, and a
    trained model makes it so for most sentences), Viterbi for the rest."""
    tags = log_probs.argmax(dim=-1)
    valid = argmax_is_valid(tags, lengths)
    paths: list[list[int]] = [tags[i, : int(lengths[i])].tolist() if valid[i] else [] for i in range(len(tags))]
    redo = (~valid).nonzero().flatten().tolist()
    if redo:
        for i, path in zip(redo, viterbi(log_probs[redo], lengths[redo]), strict=True):
            paths[i] = path
    return paths


def viterbi(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best valid tag paths. ``log_probs``: (batch, T, 4) over the characters only; ``lengths``: (batch,)."""
    n, steps, _ = log_probs.shape
    if steps == 0:
        return [[] for _ in range(n)]
    log_probs = log_probs.float()
    score = log_probs[:, 0] + _START  # (n, 4)
    back = torch.zeros((n, steps, 4), dtype=torch.long)
    for t in range(1, steps):
        cand = score.unsqueeze(2) + _TRANS  # (n, from, to)
        best, arg = cand.max(dim=1)
        new = best + log_probs[:, t]
        active = (t < lengths).unsqueeze(1)
        score = torch.where(active, new, score)
        back[:, t] = arg
    final = score + _END
    paths: list[list[int]] = []
    for i in range(n):
        length = int(lengths[i])
        if length == 0:
            paths.append([])
            continue
        tag = int(final[i].argmax())
        path = [tag]
        for t in range(length - 1, 0, -1):
            tag = int(back[i, t, tag])
            path.append(tag)
        paths.append(path[::-1])
    return paths


def is_valid(tags: list[int]) -> bool:
    """True when ``tags`` is a well-formed segmentation (used by tests and as a decode post-condition)."""
    if not tags:
        return True
    if tags[0] not in (B, S) or tags[-1] not in (E, S):
        return False
    return all(b in ALLOWED[a] for a, b in zip(tags, tags[1:], strict=False))
