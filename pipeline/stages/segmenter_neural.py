"""``segmenter=neural``: the trained multi-granularity segmenter (``models/segmenter``) as a pipeline stage.

One model serves both granularities: the stage runs it once per requested granularity over all sentences of
the batch (``[FINE]`` or ``[COARSE]`` as the first input token), so a batch of documents costs one or two
batched forward passes, not one per sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from models.segmenter.inference import Segmenter
from pipeline.errors import ConfigError
from pipeline.schema import GRANULARITIES, Granularity, PipelineResult, Token
from pipeline.stages.runtime_checks import load_checkpoint, resolve_runtime
from pipeline.stages.segmenter import check_granularities


class NeuralSegmenter:
    reads: ClassVar[frozenset[str]] = frozenset({"sentences"})
    writes: ClassVar[frozenset[str]] = frozenset({"sentences.tokens"})

    def __init__(self, checkpoint: str, granularities: Sequence[str] = GRANULARITIES, precision: str = "auto",
                 device: str = "cpu", batch_chars: int = 4096, backend: str = "torch",
                 cache_dir: str = "~/.cache/duihua", extra_words: Sequence[str] = ()) -> None:
        """``extra_words``: word-list files (one word per line) the checkpoint's wordhood features treat as known
        words, so a domain's words change the output without retraining."""
        self.granularities = check_granularities(granularities)
        precision = resolve_runtime(backend, precision, device)
        folder = Path(checkpoint).resolve()
        missing = [f for f in extra_words if not Path(f).is_file()]
        if missing:
            raise ConfigError(f"segmenter.extra_words: word list not found: {missing[0]}")
        try:
            self.model = load_checkpoint(Segmenter.from_pretrained, "segmenter.checkpoint", folder,
                                         ", or use segmenter=jieba", backend=backend, cache_dir=str(cache_dir),
                                         precision=precision, device=device, batch_chars=batch_chars,
                                         extra_words=tuple(extra_words))
        except ValueError as exc:  # a checkpoint without wordhood features cannot take word lists
            if not extra_words:
                raise
            raise ConfigError(f"segmenter.extra_words: {exc}") from exc

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        wanted = [doc.query.granularities or self.granularities for doc in docs]
        tokens: list[list[dict[Granularity, list[Token]]]] = [[{} for _ in doc.sentences] for doc in docs]
        # every (sentence, granularity) asked for, in one call: both views of a sentence share a batch
        where = [(d, s, g) for g in GRANULARITIES for d, doc in enumerate(docs) if g in wanted[d]
                 for s in range(len(doc.sentences))]
        texts = [docs[d].sentences[s].text for d, s, _ in where]
        spans_of = self.model.segment(texts, [g for _, _, g in where]) if where else []
        for (d, s, granularity), text, spans in zip(where, texts, spans_of, strict=True):
            tokens[d][s][granularity] = [Token(text=text[a:b], start=a, end=b) for a, b in spans]
        return [doc.model_copy(update={"sentences": [sent.model_copy(update={"tokens": toks})
                                                     for sent, toks in zip(doc.sentences, tokens[d], strict=True)]})
                for d, doc in enumerate(docs)]
