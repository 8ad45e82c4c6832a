"""``intent=slot_attention``: the slot-aware intent classifier (``models/intent``) as a pipeline stage.

Every sentence of every document in a batch goes through the model together. The gazetteer evidence is the
``char_slots`` the slot stage wrote (so the stage needs ``slots=gazetteer`` before it, unless
``use_lexicons: false``, which classifies from the text alone). ``decode`` picks how the two heads combine
(``models/intent/inference.py``): ``hierarchical`` gives a domain (incl. ``chat``) and, where that domain has
intents, the best of them. A prediction whose calibrated score is below
``threshold`` becomes ``unknown`` (its ``top_k`` still lists the candidates); ``chat`` is an ordinary domain,
which the reply stage routes to its chat answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from models.intent.inference import DECODE_MODES, UNKNOWN, IntentClassifier, IntentResult
from pipeline.errors import ConfigError
from pipeline.schema import IntentPrediction, PipelineResult, ScoredLabel
from pipeline.stages.runtime_checks import load_checkpoint, resolve_runtime


def load_intent(folder: Path, precision: str, device: str, batch_chars: int, backend: str, cache_dir: str,
                key: str = "intent.checkpoint", way_out: str = ", or use intent=none") -> IntentClassifier:
    """The intent model, shared with every stage that asks with the same settings (the joint splitter's
    intent evidence is the intent stage's model)."""
    return load_checkpoint(IntentClassifier.from_pretrained, key, folder, way_out, backend=backend,
                           cache_dir=cache_dir, precision=precision, device=device, batch_chars=batch_chars)


class SlotAwareIntentClassifier:
    writes = frozenset({"sentences.intent"})

    def __init__(self, checkpoint: str, threshold: float = 0.5, top_k: int = 3, decode: str = "hierarchical",
                 use_lexicons: bool = True, return_gates: bool = True, precision: str = "auto-gpu",
                 device: str = "cpu", batch_chars: int = 4096, backend: str = "torch",
                 cache_dir: str = "~/.cache/duihua") -> None:
        if not 0 <= threshold < 1:
            raise ConfigError(f"intent.threshold: expected a probability in [0, 1), got {threshold}")
        if decode not in DECODE_MODES:
            raise ConfigError(f"intent.decode: expected one of {list(DECODE_MODES)}, got {decode!r}")
        if top_k < 1:
            raise ConfigError(f"intent.top_k: expected at least 1, got {top_k}")
        precision = resolve_runtime(backend, precision, device)
        folder = Path(checkpoint).resolve()
        self.model = load_intent(folder, precision, device, batch_chars, backend, str(cache_dir))
        self.threshold, self.top_k, self.decode = threshold, top_k, decode
        self.use_lexicons, self.return_gates = use_lexicons, return_gates
        # the composer checks that the slot stage runs first when the model is to be fed its tags
        self.reads = frozenset({"sentences", "sentences.slots"} if use_lexicons else {"sentences"})

    def to_prediction(self, r: IntentResult) -> IntentPrediction:
        top = [ScoredLabel(label=label, score=round(score, 4)) for label, score in r.top_k]
        gates = r.gates if self.return_gates else None
        if r.score < self.threshold:
            return IntentPrediction(label=UNKNOWN, domain=UNKNOWN, score=round(r.score, 4), top_k=top, gates=gates)
        return IntentPrediction(label=r.label, domain=r.domain, intent=r.intent, score=round(r.score, 4),
                                top_k=top, gates=gates)

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        sentences = [s for d in docs for s in d.sentences]
        slots = [s.char_slots for s in sentences] if self.use_lexicons else None
        texts = [s.text for s in sentences]
        results = iter(self.model.predict(texts, slots, self.top_k, self.decode) if sentences else [])
        out = []
        for doc in docs:
            updated = [s.model_copy(update={"intent": self.to_prediction(next(results))}) for s in doc.sentences]
            out.append(doc.model_copy(update={"sentences": updated}))
        return out
