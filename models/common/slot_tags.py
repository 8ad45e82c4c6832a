"""Gazetteer tags as model ids, shared by every slot-fused model (intent, slot tagger, boundary tagger) and
the fusion head that embeds them (``models.common.slot_fusion``), in a module without torch so the ONNX path
can import them."""

from __future__ import annotations

import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)

PAD_TYPE = 0  # slot-type id of padding tags: the fusion embedding's padding_idx

NO_SLOT = 1
BIO = {"B": 1, "I": 2}


def slot_types_of(char_slots: Sequence[Sequence[Sequence[str]]]) -> list[str]:
    """The sorted slot types the tags of some texts name (take them before tag dropout: a rare type must not
    vanish from a model's vocabulary because its few spans were dropped)."""
    return sorted({tag.partition("-")[2] for text in char_slots for tags in text for tag in tags})


class SlotTagVocab:
    """A model's own list of slot types (saved with its checkpoint), so tags of a lexicon added later are
    ignored rather than misread. Each character gets up to ``max_tags`` (type, position) pairs: type 0 pads,
    type 1 is "no slot" (so untagged characters have an embedding of their own); position 1 is B, 2 is I.

    A loaded model whose checkpoint records ``lexicon_types`` (every slot type of the lexicons it was trained
    with) passes them with ``owner`` (what to call it): the first tag of a type outside them logs one warning,
    since lexicons other than the training ones change the model's input in a way no dev score has seen."""

    def __init__(self, types: Sequence[str], max_tags: int = 3, owner: str = "",
                 lexicon_types: Sequence[str] | None = None) -> None:
        self.types = list(types)
        self.index = {t: i + 2 for i, t in enumerate(self.types)}
        self.max_tags = max_tags
        self.owner, self.lexicon_types = owner, None if lexicon_types is None else frozenset(lexicon_types)
        self._warned = False

    def _unseen(self, name: str) -> None:
        if self._warned or self.lexicon_types is None or name in self.lexicon_types:
            return
        self._warned = True
        log.warning("%s was trained with lexicons that have no slot type %r: its tags are ignored; retrain with "
                    "these lexicons to use them (trained with: %s)", self.owner or "a model", name,
                    ", ".join(sorted(self.lexicon_types)) or "none")

    def __len__(self) -> int:
        return len(self.types) + 2

    def encode(self, char_slots: Sequence[Sequence[str]], n: int) -> tuple[list[list[int]], list[list[int]]]:
        """``(types, positions)``, each ``n`` rows of ``max_tags``; rows past ``char_slots`` are "no slot"."""
        types, positions = [], []
        for i in range(n):
            pairs = []
            for tag in char_slots[i] if i < len(char_slots) else ():
                bio, _, name = tag.partition("-")
                if name in self.index and bio in BIO:
                    pairs.append((self.index[name], BIO[bio]))
                elif bio in BIO:
                    self._unseen(name)
            pairs = pairs[: self.max_tags] or [(NO_SLOT, 0)]
            pad = self.max_tags - len(pairs)
            types.append([t for t, _ in pairs] + [PAD_TYPE] * pad)
            positions.append([p for _, p in pairs] + [0] * pad)
        return types, positions

    def encode_framed(self, char_slots: Sequence[Sequence[str]], n: int) -> tuple[list[list[int]], list[list[int]]]:
        """``encode`` with a "no slot" row before and after, for ``[CLS] c1 .. cn [SEP]``."""
        types, positions = self.encode(char_slots, n)
        blank_type, blank_position = [NO_SLOT] + [PAD_TYPE] * (self.max_tags - 1), [0] * self.max_tags
        return [blank_type, *types, blank_type], [blank_position, *positions, blank_position]

    def matched_types(self, char_slots: Sequence[Sequence[str]]) -> list[int]:
        """Type indices (0-based) of the slots starting in the text, in order of first start, distinct."""
        seen: list[int] = []
        for tags in char_slots:
            for tag in tags:
                bio, _, name = tag.partition("-")
                if bio == "B" and name in self.index and self.index[name] - 2 not in seen:
                    seen.append(self.index[name] - 2)
        return seen
