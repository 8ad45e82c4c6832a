"""``splitter=joint``: the boundary tagger's cuts decided together with the request scorer's view of the
pieces they leave (``models/splitter/joint.py`` explains the search).

The boundary tagger is the ``splitter=neural`` model, loaded and shared the same way; the request scorer is
its own small checkpoint (``duihua train request-scorer``). With ``intent_weight > 0`` the intent model's
confidence is piece evidence too: the intent stage's checkpoint (shared with it when the settings match),
fed the configured lexicons' tags as the intent stage is; with ``entity_weight > 0`` a cut through a lexicon
entry is penalised, and with ``entity_end_weight > 0`` the gap right after one is a candidate with a bonus.
Pieces of every query in a batch go through each
piece model in one call, and only gaps the tagger has doubts about are asked about, so a lone request costs
one tagger pass, as under ``splitter=neural``. The splitter's lexicons are a ``LiveGazetteer``: a server's
lexicon reload refreshes them as it does the slot stage's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from models.lexicon.features import gazetteer_featurizer
from models.lexicon.live import LiveGazetteer
from models.splitter.joint import (
    GapScore,
    JointDecoder,
    JointSettings,
    PieceScore,
    entity_ends,
    inside_entity,
    intent_confidence,
)
from models.splitter.scorer import RequestScorer
from models.splitter.spans import TERMINATORS
from pipeline.errors import ConfigError
from pipeline.stages.intent import load_intent
from pipeline.stages.runtime_checks import load_checkpoint, resolve_runtime
from pipeline.stages.splitter_neural import NeuralSentenceSplitter


class JointSentenceSplitter(NeuralSentenceSplitter):
    def __init__(self, checkpoint: str, scorer_checkpoint: str, scorer_weight: float = 1.0,
                 boundary_weight: float = 1.0, cut_bias: float = 0.0, candidate_min: float = 0.05,
                 max_span: int = 8, entity_weight: float = 0.0, entity_min_chars: int = 3,
                 entity_end_weight: float = 0.0, entity_end_min_chars: int = 2,
                 intent_weight: float = 0.0, intent_checkpoint: str | None = None,
                 intent_precision: str = "auto-gpu", intent_batch_chars: int = 4096,
                 lexicon_domains: Mapping[str, str] | None = None, lexicon_extra_dirs: Sequence[str] = (),
                 threshold: float = 0.5, terminators: str = TERMINATORS, precision: str = "auto",
                 device: str = "cpu", batch_chars: int = 8192, backend: str = "torch",
                 cache_dir: str = "~/.cache/duihua") -> None:
        if not 0 < candidate_min < 1:
            raise ConfigError(f"splitter.candidate_min: expected a probability in (0, 1), got {candidate_min}")
        if max_span < 1:
            raise ConfigError(f"splitter.max_span: expected at least 1, got {max_span}")
        if min(scorer_weight, boundary_weight, intent_weight, entity_weight, entity_end_weight) < 0:
            raise ConfigError("splitter.scorer_weight, boundary_weight, entity_weight and intent_weight must not "
                              "be negative")
        super().__init__(checkpoint, threshold, terminators, precision, device, batch_chars, backend, cache_dir,
                         lexicon_domains, lexicon_extra_dirs)
        folder = Path(scorer_checkpoint).resolve()
        scorer = load_checkpoint(RequestScorer.from_pretrained, "splitter.scorer_checkpoint", folder,
                                 ", or use splitter=neural", backend=backend, cache_dir=str(cache_dir),
                                 batch_chars=batch_chars)
        settings = JointSettings(candidate_min=candidate_min, max_span=max_span, boundary_weight=boundary_weight,
                                 cut_bias=cut_bias)
        evidence: list[tuple[PieceScore, float]] = [(scorer.log_probabilities, scorer_weight)]
        gaps: list[tuple[GapScore, float]] = []
        proposals: list[tuple[GapScore, float]] = []
        if intent_weight or entity_weight or entity_end_weight:
            gazetteer = self.gazetteer()

            def find(text: str) -> list[tuple[int, int]]:
                return [(h.start, h.end) for h in gazetteer.find(text)]

            gaps.append((inside_entity(find, entity_min_chars), entity_weight))
            proposals.append((entity_ends(find, entity_end_min_chars), entity_end_weight))
            if intent_weight:
                evidence.append((self._intent(intent_checkpoint, intent_precision, intent_batch_chars, gazetteer,
                                              device, backend, str(cache_dir)), intent_weight))
        self.model = JointDecoder(self.model, evidence, settings, gaps, proposals)

    @staticmethod
    def _intent(checkpoint: str | None, precision: str, batch_chars: int, gazetteer: LiveGazetteer, device: str,
                backend: str, cache_dir: str) -> PieceScore:
        if not checkpoint:
            raise ConfigError("splitter.intent_checkpoint: needed when splitter.intent_weight > 0")
        folder = Path(checkpoint).resolve()
        classifier = load_intent(folder, resolve_runtime(backend, precision, device), device, batch_chars, backend,
                                 cache_dir, key="splitter.intent_checkpoint", way_out="")
        return intent_confidence(classifier, gazetteer_featurizer(gazetteer))
