"""``splitter=joint``: the boundary tagger's cuts decided together with the request scorer's view of the
pieces they leave (``models/splitter/joint.py`` explains the search).

The boundary tagger is the ``splitter=neural`` model, loaded and shared the same way; the request scorer is
its own small checkpoint (``duihua train request-scorer``). Pieces of every query in a batch go through the
scorer in one call, and only gaps the tagger has doubts about are asked about, so a lone request costs one
tagger pass, as under ``splitter=neural``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from models.splitter.joint import JointDecoder, JointSettings
from models.splitter.scorer import RequestScorer
from models.splitter.spans import TERMINATORS
from pipeline.errors import ConfigError
from pipeline.stages.runtime_checks import onnx_load_errors, weights_mtime
from pipeline.stages.split_neural import NeuralSentenceSplitter


@lru_cache(maxsize=4)
def _load_scorer(checkpoint: Path, backend: str, cache_dir: str, batch_chars: int, mtime_ns: int) -> RequestScorer:
    return RequestScorer.from_pretrained(checkpoint, backend=backend, cache_dir=cache_dir, batch_chars=batch_chars)


class JointSentenceSplitter(NeuralSentenceSplitter):
    def __init__(self, checkpoint: str, scorer_checkpoint: str, scorer_weight: float = 1.0,
                 boundary_weight: float = 1.0, cut_bias: float = 0.0, candidate_min: float = 0.05,
                 max_span: int = 8, threshold: float = 0.5, terminators: str = TERMINATORS,
                 precision: str = "auto", device: str = "cpu", batch_chars: int = 8192, backend: str = "torch",
                 cache_dir: str = "~/.cache/duihua") -> None:
        if not 0 < candidate_min < 1:
            raise ConfigError(f"splitter.candidate_min: expected a probability in (0, 1), got {candidate_min}")
        if max_span < 1:
            raise ConfigError(f"splitter.max_span: expected at least 1, got {max_span}")
        if scorer_weight < 0 or boundary_weight < 0:
            raise ConfigError("splitter.scorer_weight and splitter.boundary_weight must not be negative")
        super().__init__(checkpoint, threshold, terminators, precision, device, batch_chars, backend, cache_dir)
        folder = Path(scorer_checkpoint).resolve()
        try:
            with onnx_load_errors(backend):
                scorer = _load_scorer(folder, backend, str(cache_dir), batch_chars, weights_mtime(folder))
        except FileNotFoundError as exc:
            raise ConfigError(f"splitter.scorer_checkpoint: {exc}, or use splitter=neural") from exc
        settings = JointSettings(candidate_min=candidate_min, max_span=max_span, boundary_weight=boundary_weight,
                                 cut_bias=cut_bias)
        self.model = JointDecoder(self.model, [(scorer.log_probabilities, scorer_weight)], settings)
