"""Split raw text into sentences with a trained boundary tagger (or an ensemble of them).

Order of work for one text: sentence-final punctuation cuts directly (``spans.punct_cuts``); each piece
between those cuts is reduced to the model view (no punctuation, no spaces, folded digits/Latin) and tagged;
a character whose boundary probability reaches ``threshold`` ends a sentence. The cut lands after any
closing punctuation that follows the character (你好，| 我想听歌), so sentences concatenate back to the input
and keep their own commas. Pieces longer than the model's positions are tagged in overlapping windows, each
boundary taken from the window where it sits furthest from an edge. A slot-fused checkpoint reads the
gazetteer's character tags of each piece as well, from the ``featurize`` its stage sets (none set: every
character untagged, as with empty lexicons).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.common.bigrams import BigramVocab
from models.common.onnx import BACKENDS, OnnxRunner, load_runner
from models.common.precision import autocast, length_batches, resolve_precision
from models.common.slot_tags import SlotTagVocab
from models.splitter.activations import sigmoid
from models.splitter.config import CONFIG_FILE, HeadConfig, SplitterCheckpoint, checkpoint_files, max_chars_of
from models.splitter.features import TAG_KEYS, CharIds, collate_numpy, encode_example, splitter_view, view_tags
from models.splitter.spans import TERMINATORS, extend_over_closing, punct_cuts, spans_from_cuts
from models.tokenization import load_char_ids

if TYPE_CHECKING:  # modeling imports transformers and torch (seconds); only the torch backend and an export

    from models.lexicon.features import Featurizer
    from models.splitter.modeling import SplitterModel

BASE_INPUTS = ("input_ids", "attention_mask")
BIGRAM_INPUTS = ("bigram_left", "bigram_right")
Tags = Sequence[Sequence[str]]   # per model character, its gazetteer tags (B-song, I-city, ...)


def model_inputs(head: HeadConfig) -> tuple[str, ...]:
    """The graph's input names, in the order the export traces them."""
    return (*BASE_INPUTS, *(BIGRAM_INPUTS if head.bigram_dim else ()), *(TAG_KEYS if head.fused else ()))


def tag_vocab_of(head: HeadConfig) -> SlotTagVocab | None:
    """The tag ids a slot-fused checkpoint was trained with (None: it reads no tags)."""
    return SlotTagVocab(head.slot_types, head.max_tags) if head.fused else None


def export_onnx(folder: Path, path: Path) -> None:
    """Build the torch model and export it as ``inputs -> logits``: called only on an ONNX cache miss, so a
    warm cache never imports transformers or torch."""
    import torch

    from models.common.onnx import export_logits
    from models.splitter.modeling import SplitterModel

    model = SplitterModel.load(folder)
    head = model.head_config
    example = {k: torch.ones((2, 8, head.max_tags) if k in TAG_KEYS else (2, 8), dtype=torch.long)
               for k in model_inputs(head)}
    export_logits(model, example, path)


def windows(n: int, size: int, margin: int) -> list[tuple[int, int, int, int]]:
    """``(start, end, keep_start, keep_end)``: windows of ``size`` overlapping by ``2 * margin``; each
    position is kept from exactly one window, the one where it is at least ``margin`` from an inner edge."""
    if n <= size:
        return [(0, n, 0, n)]
    margin = min(margin, size // 4)  # small models (few positions) still advance by half a window
    step = size - 2 * margin
    out, start = [], 0
    while True:
        end = min(start + size, n)
        keep_start = 0 if start == 0 else start + margin
        keep_end = n if end == n else end - margin
        out.append((start, end, keep_start, keep_end))
        if end == n:
            return out
        start += step


class BoundaryTagger:
    """Text-level splitting on top of ``probabilities`` (per-character boundary probabilities)."""

    max_chars: int = 254
    threshold: float = 0.5
    terminators: str = TERMINATORS
    margin: int = 32
    reads_tags: bool = False                 # a slot-fused model: ``cuts`` computes the pieces' tags
    featurize: Featurizer | None = None      # texts -> per character gazetteer tags (set by the stage)

    def probabilities(self, sequences: Sequence[Sequence[str]], tags: Sequence[Tags] | None = None
                      ) -> list[list[float]]:
        raise NotImplementedError

    def long_probabilities(self, sequences: Sequence[Sequence[str]], tags: Sequence[Tags] | None = None
                           ) -> list[list[float]]:
        """Like ``probabilities`` for sequences of any length (overlapping windows, one batch for all)."""
        pieces = [(k, w) for k, seq in enumerate(sequences) for w in windows(len(seq), self.max_chars, self.margin)]
        windowed = [sequences[k][w[0]:w[1]] for k, w in pieces]
        probs = (self.probabilities(windowed) if tags is None   # a tagger that reads no tags need not take them
                 else self.probabilities(windowed, [tags[k][w[0]:w[1]] for k, w in pieces]))
        out: list[list[float]] = [[] for _ in sequences]
        for (k, (start, _, keep_start, keep_end)), p in zip(pieces, probs, strict=True):
            out[k] += p[keep_start - start:keep_end - start]
        return out

    def cuts(self, texts: Sequence[str]) -> list[list[int]]:
        """Sentence-end offsets per text (punctuation cuts and model cuts, without the text end)."""
        pieces: list[tuple[int, int, int]] = []  # (text index, piece start, piece end)
        result: list[list[int]] = []
        for ti, text in enumerate(texts):
            bounds = punct_cuts(text, self.terminators)
            result.append([c for c in bounds if c < len(text)])
            starts = [0, *bounds]
            pieces += [(ti, a, b) for a, b in zip(starts, [*bounds, len(text)], strict=True) if b > a]
        views = [splitter_view(texts[ti][a:b]) for ti, a, b in pieces]
        texts_of = [texts[ti][a:b] for ti, a, b in pieces]
        probs = self.long_probabilities([chars for chars, _ in views], self.view_tags(texts_of, views))
        for (ti, a, _), (_, spans), gaps in zip(pieces, views, self.choose(texts_of, views, probs), strict=True):
            for i in gaps:
                result[ti].append(extend_over_closing(texts[ti], a + spans[i][1], a + spans[i + 1][0]))
        return [sorted(set(r)) for r in result]

    def view_tags(self, texts: Sequence[str], views: Sequence[tuple[list[str], list[tuple[int, int]]]]
                  ) -> list[list[list[str]]] | None:
        """The gazetteer's tags of each piece's model characters, when the model reads them."""
        if not self.reads_tags or self.featurize is None or not texts:
            return None
        return [view_tags(t, spans) for t, (_, spans) in zip(self.featurize(texts), views, strict=True)]

    def choose(self, texts: Sequence[str], views: Sequence[tuple[list[str], list[tuple[int, int]]]],
               probs: Sequence[Sequence[float]]) -> list[list[int]]:
        """Per unpunctuated piece, the model characters after which a sentence ends: here every gap whose
        boundary probability reaches ``threshold``; the joint decoder (``joint.py``) searches instead."""
        return [[i for i in range(len(spans) - 1) if p[i] >= self.threshold]
                for (_, spans), p in zip(views, probs, strict=True)]

    def split(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Sentence spans ``(start, end)`` per text; trimmed, content-free fragments dropped."""
        return [spans_from_cuts(t, c) for t, c in zip(texts, self.cuts(texts), strict=True)]

    def sentences(self, text: str) -> list[str]:
        """Convenience: the sentences of one text."""
        return [text[a:b] for a, b in self.split([text])[0]]


class Splitter(BoundaryTagger):
    """A loaded splitter checkpoint: the torch model, or (``model=None``) only its ONNX graph."""

    def __init__(self, model: SplitterModel | None, char_ids: CharIds, threshold: float = 0.5,
                 precision: str = "fp32", device: str = "cpu", batch_chars: int = 8192,
                 onnx: OnnxRunner | None = None, bigram_vocab: BigramVocab | None = None,
                 max_chars: int | None = None, tag_vocab: SlotTagVocab | None = None,
                 featurize: Featurizer | None = None) -> None:
        if model is None and (onnx is None or max_chars is None):
            raise ValueError("a Splitter without its torch model needs the ONNX runner and max_chars")
        self.model = model.to(device).eval() if model is not None else None
        self.char_ids, self.threshold, self.bigram_vocab = char_ids, threshold, bigram_vocab
        self.precision, self.device, self.batch_chars = resolve_precision(precision, device), device, batch_chars
        self.onnx = onnx
        # an ONNX-only splitter is handed its checkpoint's tag ids; a torch one reads them off its model
        self.tag_vocab = tag_vocab if tag_vocab is not None or model is None else tag_vocab_of(model.head_config)
        self.reads_tags, self.featurize = self.tag_vocab is not None, featurize
        if max_chars is None:  # [CLS] ... [SEP]
            max_chars = model.encoder_config.max_position_embeddings - 2  # type: ignore[union-attr]
        self.max_chars = max_chars

    @classmethod
    def from_pretrained(cls, folder: str | Path, backend: str = "torch", cache_dir: str | Path = "~/.cache/duihua",
                        **kwargs) -> Splitter:  # noqa: ANN003
        """``backend="torch"`` builds the model; ONNX backends read the checkpoint's JSON and run the cached
        graph, building the torch model only to export it on a cache miss."""
        folder = SplitterCheckpoint.check_folder(folder)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        config = SplitterCheckpoint.read_config(folder)
        head = HeadConfig(**config["head"])
        vocab = BigramVocab.load(folder) if head.bigram_dim else None
        if backend == "torch":
            from models.splitter.modeling import SplitterModel
            from models.tokenization import load_tokenizer

            model = SplitterModel.load(folder)
            return cls(model, CharIds.from_tokenizer(load_tokenizer(folder)), bigram_vocab=vocab, **kwargs)
        runner = load_runner(backend, checkpoint_files(folder, CONFIG_FILE), cache_dir, partial(export_onnx, folder))
        return cls(None, load_char_ids(folder), onnx=runner, bigram_vocab=vocab, max_chars=max_chars_of(config),
                   tag_vocab=tag_vocab_of(head), **kwargs)

    def probabilities(self, sequences: Sequence[Sequence[str]], tags: Sequence[Tags] | None = None
                      ) -> list[list[float]]:
        """Boundary probability per character, for sequences of at most ``max_chars``; batched by length.
        ``tags`` (per sequence, per character) feed a slot-fused model; without them it sees no tags."""
        out: list[list[float]] = [[] for _ in sequences]
        for chunk in length_batches([len(s) for s in sequences], self.batch_chars):
            batch = collate_numpy([encode_example(sequences[k], self.char_ids, bigram_vocab=self.bigram_vocab,
                                                  tag_vocab=self.tag_vocab, tags=tags[k] if tags else ())
                                   for k in chunk])
            probs = self._onnx_probabilities(batch) if self.onnx is not None else self._torch_probabilities(batch)
            for row, k in enumerate(chunk):
                out[k] = probs[row, 1:1 + len(sequences[k])].tolist()
        return out

    def _onnx_probabilities(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The cached graph's logits through a numpy sigmoid: this backend never imports torch."""
        return sigmoid(self.onnx.first_numpy(batch))  # type: ignore[union-attr]

    def _torch_probabilities(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The torch model under the configured autocast, with torch's own sigmoid (as it always ran)."""
        import torch

        with torch.inference_mode():
            with autocast(self.precision, self.device):
                logits = self.model(**{k: torch.from_numpy(v).to(self.device) for k, v in batch.items()})["logits"]
            return torch.sigmoid(logits.float()).cpu().numpy()


class SplitterEnsemble(BoundaryTagger):
    """Several splitters whose boundary probabilities are averaged (the distillation teacher)."""

    def __init__(self, members: Sequence[Splitter], threshold: float = 0.5) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members, self.threshold = list(members), threshold
        self.max_chars = min(m.max_chars for m in members)
        self.reads_tags = any(m.reads_tags for m in members)
        self.featurize = next((m.featurize for m in members if m.featurize is not None), None)  # the members'

    def probabilities(self, sequences: Sequence[Sequence[str]], tags: Sequence[Tags] | None = None
                      ) -> list[list[float]]:
        per_member = [m.probabilities(sequences, tags) for m in self.members]
        return [[sum(vals) / len(vals) for vals in zip(*rows, strict=True)] for rows in zip(*per_member, strict=True)]
