"""``splitter=neural``: the distilled boundary tagger (``models/splitter``) as a pipeline stage.

Sentence-final punctuation cuts directly; the model cuts inside unpunctuated runs (ASR output). All texts
of a batch go through the model together, so a batch of queries costs a few batched forward passes. A
slot-fused checkpoint reads the configured lexicons' character tags, from a ``LiveGazetteer`` that a server's
lexicon reload refreshes as it does the slot stage's. It reads every configured lexicon whatever a query's own
selection (``Query.lexicons``, which the slot stage honours): the cuts are decided before there are requests
to select for.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from models.lexicon.features import gazetteer_featurizer, selected_dirs
from models.lexicon.live import LiveGazetteer
from models.splitter.inference import Splitter
from models.splitter.spans import TERMINATORS
from pipeline.errors import ConfigError
from pipeline.schema import PipelineResult, Sentence
from pipeline.stages.runtime_checks import load_checkpoint, resolve_runtime


class NeuralSentenceSplitter:
    reads: ClassVar[frozenset[str]] = frozenset({"query"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences"})

    def __init__(self, checkpoint: str, threshold: float = 0.5, terminators: str = TERMINATORS,
                 precision: str = "auto", device: str = "cpu", batch_chars: int = 8192, backend: str = "torch",
                 cache_dir: str = "~/.cache/duihua", lexicon_domains: Mapping[str, str] | None = None,
                 lexicon_extra_dirs: Sequence[str] = ()) -> None:
        if not 0 < threshold < 1:
            raise ConfigError(f"splitter.threshold: expected a probability in (0, 1), got {threshold}")
        precision = resolve_runtime(backend, precision, device)
        folder = Path(checkpoint).resolve()
        shared = load_checkpoint(Splitter.from_pretrained, "splitter.checkpoint", folder, ", or use splitter=punct",
                                 backend=backend, cache_dir=str(cache_dir), precision=precision, device=device,
                                 batch_chars=batch_chars)
        # the loaded model is shared (a shallow copy); threshold and terminators are this stage's own settings
        self.model = copy.copy(shared)
        self.model.threshold, self.model.terminators = threshold, terminators
        self._lexicon_dirs = dict(lexicon_domains or {}), list(lexicon_extra_dirs)
        self._cache_dir = str(cache_dir)
        self.lexicons: LiveGazetteer | None = None
        if self.model.reads_tags:
            self.model.featurize = gazetteer_featurizer(self.gazetteer())

    def gazetteer(self) -> LiveGazetteer:
        """The configured lexicons, loaded on first use and shared by everything this stage matches."""
        if self.lexicons is None:
            domains, extra = self._lexicon_dirs
            self.lexicons = LiveGazetteer(lambda: selected_dirs(domains, extra), f"{self._cache_dir}/gazetteer")
        return self.lexicons

    def live_lexicons(self) -> list[LiveGazetteer]:
        """The lexicons the model's tags (and the joint splitter's evidence) read, once loaded."""
        return [self.lexicons] if self.lexicons is not None else []

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        texts = [d.query.text for d in docs]
        spans = self.model.split(texts)
        return [d.model_copy(update={"sentences": [Sentence(text=t[a:b], start=a, end=b) for a, b in s]})
                for d, t, s in zip(docs, texts, spans, strict=True)]
