"""``data.shots=K``: K labelled examples per class, drawn with the seed; the rest become unlabeled texts.

Why keep the rest: PET pseudo-labels unlabeled queries and distills them into a plain classifier, and in a
real deployment the unlabeled traffic of a new domain is what is cheap to get. Labels of the remainder are
dropped here, so nothing downstream can peek at them.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence

from models.common.errors import TrainConfigError
from models.intent.data import IntentExample

log = logging.getLogger(__name__)


def sample_shots(examples: Sequence[IntentExample], k: int, seed: int) -> tuple[list[IntentExample], list[str]]:
    """``(K per label, unlabeled texts of the rest)``; per label, a seeded sample in file order. A label with
    fewer than K examples keeps all of them (logged)."""
    if int(k) < 1:
        raise TrainConfigError(f"data.shots must be >= 1 (examples per class), got {k}")
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, x in enumerate(examples):
        by_label[x.label].append(i)
    rng = random.Random(seed)
    chosen: set[int] = set()
    short = []
    for label in sorted(by_label):
        idx = by_label[label]
        if len(idx) < k:
            short.append(label)
        chosen.update(rng.sample(idx, min(k, len(idx))))
    if short:
        log.warning("data.shots=%d: %d labels have fewer examples and keep all: %s", k, len(short), short[:5])
    labelled = [x for i, x in enumerate(examples) if i in chosen]
    return labelled, [x.text for i, x in enumerate(examples) if i not in chosen]
