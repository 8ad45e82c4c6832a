"""Segment raw text with a trained checkpoint: word spans in the original string, at either granularity.

Handles what real input brings: empty strings (no words), whitespace (never inside a word), Latin and digits
(folded, see ``charmap``), and texts longer than the model's positions (cut into windows, preferably after
punctuation, each segmented on its own). Batches are built from windows sorted by length, so a batch of
mixed lengths wastes little padding.

Under ``backend=onnx|onnx-int8`` the network is built only when its graph is not yet cached (inside the export
callback): with a warm cache, loading reads the config, the tokenizer's ids and the bigrams, and neither
transformers nor the torch model is imported or built (that import alone costs seconds per start: bench/startup.py).
Inputs are padded and logits decoded in numpy on both backends, so the ONNX path does not import torch
either (another ~1.8 s); torch comes in only for ``backend=torch`` and inside the export callback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.charmap import model_view
from models.common.disk_cache import default_cache_dir
from models.common.onnx import BACKENDS, OnnxRunner, export_logits, load_runner
from models.common.persistence import WEIGHTS_FILE
from models.common.precision import autocast, length_batches, resolve_precision
from models.segmenter.config import CONFIG_FILE, SegmenterCheckpoint
from models.segmenter.decoding import decode, log_softmax
from models.segmenter.features import (
    GRANULARITY_IDS,
    WORDHOOD_FEATURES,
    BigramVocab,
    CharIds,
    collate_numpy,
    encode_example,
    tags_to_spans,
)
from models.segmenter.wordhood import Wordhood, read_words
from models.tokenization import load_char_ids

if TYPE_CHECKING:  # modeling imports transformers, torch costs ~1.8 s: ONNX on a warm cache needs neither
    import torch

    from models.segmenter.modeling import SegmenterModel

BREAKS = set("。！？；，!?;,、：:")
MODEL_INPUTS = ("input_ids", "attention_mask", "bigram_left", "bigram_right", "lexicon")


def export_segmenter(model: SegmenterModel, path: Path) -> None:
    import torch

    example = {k: torch.ones((2, 8), dtype=torch.long) for k in MODEL_INPUTS[:-1]}
    if model.head_config.reads_wordhood:
        example["lexicon"] = torch.zeros((2, 8, WORDHOOD_FEATURES))
    export_logits(model, example, path)


def load_wordhood(folder: Path, head: dict, extra_words: Sequence[str | Path],
                  cache_dir: str | Path | None = None) -> Wordhood | None:
    """The checkpoint's word lists plus the user's word files (``extra_words``), or None for a checkpoint that
    reads no wordhood features (user words then have nowhere to go, which is an error, not a silent no-op)."""
    sources = list(head.get("wordhood_sources") or [])
    if not sources:
        if extra_words:
            raise ValueError(f"{folder}: this segmenter was trained without wordhood features, so it cannot "
                             "use extra word lists")
        return None
    missing = [str(p) for p in extra_words if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"segmenter word list not found: {missing[0]}")
    return Wordhood.load(folder, sources, read_words(extra_words), cache_dir)


def export_checkpoint(folder: Path, path: Path) -> None:
    """Build the torch model of ``folder`` and export it: the cache-miss callback of the ONNX backends, so
    the model (and transformers) is loaded only when there is no cached graph."""
    from models.segmenter.modeling import SegmenterModel

    export_segmenter(SegmenterModel.load(folder), path)


def light_char_ids(folder: Path) -> CharIds:
    """The segmenter's character ids (with the granularity tokens) from ``tokenizer.json`` alone."""
    base = load_char_ids(folder)
    return CharIds(base.vocab, base.unk, base.cls, base.sep)


def windows(n: int, size: int, chars: Sequence[str]) -> list[tuple[int, int]]:
    """Cut ``n`` characters into windows of at most ``size``, each ending after punctuation when one is near."""
    out, start = [], 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            cut = next((i + 1 for i in range(end - 1, start + size // 2, -1) if chars[i] in BREAKS), None)
            end = cut or end
        out.append((start, end))
        start = end
    return out


class Segmenter:
    """A loaded checkpoint. ``segment(texts, "fine")`` -> per text, a list of ``(start, end)`` word spans."""

    def __init__(self, model: SegmenterModel | None, char_ids: CharIds, bigram_vocab: BigramVocab,
                 precision: str = "fp32", device: str = "cpu", batch_chars: int = 4096,
                 onnx: OnnxRunner | None = None, max_positions: int | None = None,
                 wordhood: Wordhood | None = None) -> None:
        """``model=None`` needs ``onnx`` and ``max_positions`` (the encoder's position embeddings);
        ``wordhood`` is required by a checkpoint trained with wordhood features."""
        if model is None and (onnx is None or max_positions is None):
            raise ValueError("a Segmenter without a torch model needs an ONNX runner and max_positions")
        precision = resolve_precision(precision, device)
        self.model = model.to(device).eval() if model is not None else None
        self.char_ids, self.bigram_vocab = char_ids, bigram_vocab
        self.precision, self.device, self.batch_chars = precision, device, batch_chars
        self.onnx = onnx  # when set, forward passes run in ONNX Runtime instead of torch
        self.wordhood = wordhood
        # [CLS] [G] ... [SEP] must fit the position embeddings
        self.max_chars = (max_positions or model.encoder_config.max_position_embeddings) - 3

    @classmethod
    def from_pretrained(cls, folder: str | Path, backend: str = "torch", cache_dir: str | Path | None = None,
                        extra_words: Sequence[str | Path] = (), **kwargs) -> Segmenter:  # noqa: ANN003
        """Load a checkpoint folder; ``backend=onnx|onnx-int8`` exports it to ``cache_dir`` on first use and
        otherwise runs the cached graph without building the torch model. ``extra_words``: word-list files
        (one word per line) the wordhood features treat as known words, no retraining needed. ``cache_dir``:
        ``models.common.disk_cache.default_cache_dir()`` unless given; it also holds the wordhood index."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        config = SegmenterCheckpoint.read_config(folder)
        folder, cache_dir = Path(folder), cache_dir or default_cache_dir()
        wordhood = load_wordhood(folder, config["head"], extra_words, cache_dir)
        if backend == "torch":
            return cls._from_torch(folder, wordhood=wordhood, **kwargs)
        files = [folder / CONFIG_FILE, folder / WEIGHTS_FILE]
        runner = load_runner(backend, files, cache_dir, lambda path: export_checkpoint(folder, path))
        return cls(None, light_char_ids(folder), BigramVocab.load(folder), onnx=runner,
                   max_positions=config["encoder"]["max_position_embeddings"], wordhood=wordhood, **kwargs)

    @classmethod
    def _from_torch(cls, folder: str | Path, **kwargs) -> Segmenter:  # noqa: ANN003
        """The eager torch model (and its tokenizer through transformers, as it always was)."""
        from models.segmenter.modeling import SegmenterModel
        from models.tokenization import load_tokenizer

        folder = SegmenterModel.check_folder(folder)
        tokenizer = load_tokenizer(folder)
        model = SegmenterModel.load(folder)
        return cls(model, CharIds.from_tokenizer(tokenizer), BigramVocab.load(folder), **kwargs)

    def encode(self, chars: Sequence[str], granularity: str) -> dict[str, np.ndarray | int]:
        """One model input, with the wordhood bits when the checkpoint reads them."""
        bits = self.wordhood.bits(chars) if self.wordhood is not None else None
        return encode_example(chars, granularity, self.char_ids, self.bigram_vocab, wordhood=bits)

    def _encode_all(self, sequences: Sequence[Sequence[str]], granularities: Sequence[str]) -> list[dict]:
        """``encode`` of each sequence, the wordhood bits of all of them found in one pass."""
        bits = self.wordhood.bits_many(sequences) if self.wordhood is not None else [None] * len(sequences)
        return [encode_example(chars, g, self.char_ids, self.bigram_vocab, wordhood=b)
                for chars, g, b in zip(sequences, granularities, bits, strict=True)]

    def _logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits as a torch tensor, for callers that compare backends (``duihua export``, tests)."""
        import torch

        return torch.from_numpy(self._scores({k: np.asarray(v) for k, v in batch.items()}))

    def _scores(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """float32 logits of a ``collate_numpy`` batch, from ONNX Runtime or the torch model."""
        inputs = {k: v for k, v in batch.items() if k in MODEL_INPUTS}
        if self.onnx is not None:
            return self.onnx.first_numpy(inputs).astype(np.float32, copy=False)
        import torch

        with torch.inference_mode(), autocast(self.precision, self.device):
            logits = self.model(**{k: torch.from_numpy(v).to(self.device) for k, v in inputs.items()})["logits"]
        return logits.float().cpu().numpy()

    def tag(self, sequences: Sequence[Sequence[str]], granularity: str | Sequence[str]) -> list[list[int]]:
        """B/M/E/S tags for folded character sequences (each at most ``max_chars`` long), at one granularity or
        one per sequence: both granularities of a text then share its batch, one model call instead of two."""
        per_sequence = _per_item(granularity, len(sequences))
        result: list[list[int]] = [[] for _ in sequences]
        examples = self._encode_all(sequences, per_sequence)
        for chunk in length_batches([len(s) for s in sequences], self.batch_chars):
            batch = collate_numpy([examples[k] for k in chunk])
            log_probs = log_softmax(self._scores(batch)[:, 2:-1])  # characters only
            lengths = np.array([len(sequences[k]) for k in chunk], dtype=np.int64)
            for k, path in zip(chunk, decode(log_probs, lengths), strict=True):
                result[k] = path
        return result

    def segment(self, texts: Sequence[str], granularity: str | Sequence[str] = "fine") -> list[list[tuple[int, int]]]:
        """Word spans ``(start, end)`` into each original text; whitespace never belongs to a word.
        ``granularity``: one for all texts, or one per text (see ``tag``)."""
        per_text = _per_item(granularity, len(texts))
        views = [model_view(t) for t in texts]
        pieces: list[tuple[int, int, int]] = []  # (text index, window start, window end) in folded chars
        for ti, (chars, _) in enumerate(views):
            pieces += [(ti, a, b) for a, b in windows(len(chars), self.max_chars, chars)]
        tags = self.tag([views[ti][0][a:b] for ti, a, b in pieces], [per_text[ti] for ti, _, _ in pieces])
        out: list[list[tuple[int, int]]] = [[] for _ in texts]
        for (ti, a, _), path in zip(pieces, tags, strict=True):
            spans = views[ti][1]
            for s, e in tags_to_spans(path):
                start = spans[a + s][0]
                for k in range(a + s, a + e - 1):  # whitespace between two characters always separates words
                    if spans[k][1] != spans[k + 1][0]:
                        out[ti].append((start, spans[k][1]))
                        start = spans[k + 1][0]
                out[ti].append((start, spans[a + e - 1][1]))
        return out

    def words(self, texts: Sequence[str], granularity: str = "fine") -> list[list[str]]:
        """The words of each text (``segment`` with the spans sliced out)."""
        return [[t[a:b] for a, b in spans] for t, spans in zip(texts, self.segment(texts, granularity), strict=True)]

    def cut(self, text: str, granularity: str = "fine") -> list[str]:
        """Convenience: the words of one text."""
        return self.words([text], granularity)[0]


def _per_item(granularity: str | Sequence[str], n: int) -> list[str]:
    """``granularity`` repeated ``n`` times, or the ``n`` given ones, each checked."""
    per_item = [granularity] * n if isinstance(granularity, str) else list(granularity)
    if len(per_item) != n:
        raise ValueError(f"expected {n} granularities, got {len(per_item)}")
    unknown = sorted(set(per_item) - set(GRANULARITY_IDS))
    if unknown:
        raise ValueError(f"granularity must be one of {list(GRANULARITY_IDS)}, got {unknown[0]!r}")
    return per_item
