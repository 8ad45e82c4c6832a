"""Classification as the encoder's own pre-training task: a cloze pattern scored by the MLM head (PET).

A pattern such as ``[MASK][MASK]类请求：{query}`` turns a query into a fill-in-the-blank; a verbalizer maps each
label to a word of as many characters as the pattern has [MASK]s (``weather -> 天气``). A label's score is
the sum over the masks of ``log p(word character | mask)`` from the MLM head, and training is cross-entropy
over those scores (Schick & Schütze, 2021). The pre-trained MLM head already knows which characters fit the
blank, so the task starts far above chance instead of from a random linear layer: that is what pays with
ten examples per class.

``ptuning`` uses the same cloze model with prompt vectors spliced in after [CLS] (``finetune.add_prompts``)
and everything else frozen; the pattern then only places the [MASK]s. ``mlm_weight`` > 0 keeps the MLM
objective on randomly masked query characters as an auxiliary loss.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.common.char_ids import CharIds
from models.common.errors import TrainConfigError
from models.common.precision import length_batches
from models.fewshot.text_classifier import pad_batch
from models.normalization import normalize

MASK = "[MASK]"
QUERY = "{query}"


class PatternError(TrainConfigError):
    """A PET pattern or verbalizer that cannot work; the message names the pattern, label or character."""


@dataclass(frozen=True)
class Pattern:
    text: str
    before: list[int]     # ids ahead of the query (no [CLS])
    after: list[int]      # ids after it (no [SEP])
    n_masks: int

    def encode(self, query: str, char_ids: CharIds, max_chars: int = 64) -> tuple[list[int], list[int]]:
        """``(ids, mask positions)`` for ``[CLS] pattern(query) [SEP]``."""
        q = [char_ids.vocab.get(c, char_ids.unk) for c in normalize(query)[:max_chars] if not c.isspace()]
        ids = [char_ids.cls, *self.before, *q, *self.after, char_ids.sep]
        mask_id = char_ids.vocab[MASK]
        return ids, [i for i, t in enumerate(ids) if t == mask_id][: self.n_masks]


def _piece_ids(piece: str, char_ids: CharIds, where: str) -> list[int]:
    ids = []
    for token in re.split(r"(\[MASK\])", piece):
        if token == MASK:
            ids.append(char_ids.vocab[MASK])
            continue
        for c in normalize(token):
            if c.isspace():
                continue
            if c not in char_ids.vocab:
                raise PatternError(f"{where}: character {c!r} is not in the encoder's vocabulary")
            ids.append(char_ids.vocab[c])
    return ids


def parse_pattern(text: str, char_ids: CharIds) -> Pattern:
    """Check and compile a pattern: exactly one ``{query}`` and at least one [MASK]."""
    where = f"finetune.pet.patterns: {text!r}"
    if text.count(QUERY) != 1:
        raise PatternError(f"{where}: needs exactly one {QUERY} placeholder")
    before, after = text.split(QUERY)
    n_masks = text.count(MASK)
    if n_masks == 0:
        raise PatternError(f"{where}: needs at least one {MASK} for the label word")
    return Pattern(text, _piece_ids(before, char_ids, where), _piece_ids(after, char_ids, where), n_masks)


def verbalizer_ids(verbalizer: Mapping[str, str], labels: Sequence[str], n_masks: int, char_ids: CharIds,
                   pattern: str = "") -> torch.Tensor:
    """``(labels, n_masks)`` character ids of each label's word; every label needs a word of ``n_masks``
    characters, each in the vocabulary, and no two labels may share a word."""
    missing = [x for x in labels if x not in verbalizer]
    if missing:
        raise PatternError(f"finetune.pet.verbalizer: no label word for {missing} (add e.g. "
                           f"finetune.pet.verbalizer.{missing[0]}=…)")
    rows, seen = [], {}
    for label in labels:
        word = normalize(str(verbalizer[label]))
        if len(word) != n_masks:
            raise PatternError(f"finetune.pet.verbalizer.{label}={word!r}: {len(word)} characters, but the pattern "
                               f"{pattern!r} has {n_masks} [MASK]s")
        unknown = [c for c in word if c not in char_ids.vocab]
        if unknown:
            raise PatternError(f"finetune.pet.verbalizer.{label}={word!r}: {unknown[0]!r} is not in the encoder's "
                               "vocabulary")
        if word in seen:
            raise PatternError(f"finetune.pet.verbalizer: {label} and {seen[word]} share the word {word!r}")
        seen[word] = label
        rows.append([char_ids.vocab[c] for c in word])
    return torch.tensor(rows, dtype=torch.long)


class ClozeClassifier(nn.Module):
    """A masked-LM (``BertForMaskedLM``) with one pattern and the verbalizer's word ids."""

    def __init__(self, mlm: nn.Module, pattern: Pattern, words: torch.Tensor, char_ids: CharIds,
                 max_chars: int = 64) -> None:
        super().__init__()
        self.mlm, self.pattern, self.char_ids, self.max_chars = mlm, pattern, char_ids, max_chars
        self.register_buffer("words", words, persistent=False)

    @property
    def encoder(self) -> nn.Module:
        return self.mlm.bert

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        return self.pattern.encode(text, self.char_ids, self.max_chars)

    def _hidden(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = pad_batch(rows)
        return self.mlm.bert(input_ids=ids, attention_mask=mask).last_hidden_state, ids

    def label_scores(self, h: torch.Tensor, positions: Sequence[Sequence[int]]) -> torch.Tensor:
        """(B, labels): summed log-probabilities of each label word's characters at the masks."""
        pos = torch.tensor(positions, dtype=torch.long)
        at = h[torch.arange(h.shape[0]).unsqueeze(1), pos]                  # B x M x d
        logp = F.log_softmax(self.mlm.cls(at).float(), dim=-1)              # B x M x V
        return torch.stack([logp[:, j, self.words[:, j]] for j in range(pos.shape[1])], -1).sum(-1)

    def forward(self, rows: Sequence[Sequence[int]], positions: Sequence[Sequence[int]]) -> torch.Tensor:
        h, _ = self._hidden(rows)
        return self.label_scores(h, positions)

    def loss(self, batch: Sequence[tuple[list[int], list[int], int]], mlm_weight: float = 0.0,
             rng: random.Random | None = None) -> torch.Tensor:
        """Cross-entropy over label scores; with ``mlm_weight``, plus the MLM loss on ~15 % of the query
        characters, masked at random (never the pattern's own [MASK]s)."""
        rows = [list(r) for r, _, _ in batch]
        positions = [p for _, p, _ in batch]
        targets = [t for _, _, t in batch]
        mlm_targets = []
        if mlm_weight and rng is not None:
            mask_id = self.char_ids.vocab[MASK]
            specials = {self.char_ids.cls, self.char_ids.sep, mask_id}
            for b, row in enumerate(rows):
                candidates = [i for i, t in enumerate(row) if t not in specials]
                for i in rng.sample(candidates, max(1, round(0.15 * len(candidates)))) if candidates else []:
                    mlm_targets.append((b, i, row[i]))
                    row[i] = mask_id
        h, _ = self._hidden(rows)
        if isinstance(targets[0], np.ndarray | list):
            dist = torch.tensor(np.asarray(targets), dtype=torch.float32)
            loss = -(dist * F.log_softmax(self.label_scores(h, positions), -1)).sum(-1).mean()
        else:
            loss = F.cross_entropy(self.label_scores(h, positions), torch.tensor(targets))
        if mlm_targets:
            b, i, t = (torch.tensor(x) for x in zip(*mlm_targets, strict=True))
            loss = loss + mlm_weight * F.cross_entropy(self.mlm.cls(h[b, i]).float(), t)
        return loss

    @torch.inference_mode()
    def probabilities(self, texts: Sequence[str], batch_chars: int = 8192) -> np.ndarray:
        """Softmax over the label scores, in input order (batched by length, ``length_batches``)."""
        self.eval()
        enc = [self.encode(t) for t in texts]
        out = np.zeros((len(enc), self.words.shape[0]), np.float32)
        for idx in length_batches([len(e[0]) for e in enc], batch_chars):
            scores = self([enc[i][0] for i in idx], [enc[i][1] for i in idx])
            out[idx] = F.softmax(scores, -1).numpy()
        return out
