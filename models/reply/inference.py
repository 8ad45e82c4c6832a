"""Load a trained generator folder and use it: replies for contexts, and perplexity of reference replies.

A folder holds a plain BERT MLM (``config.json`` + fp16 ``model.safetensors``), its tokenizer, and
``reply.json`` with the input limits it was trained with (``models/reply/config.py``, re-exported here).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from models.common.onnx import BACKENDS
from models.reply.config import CONFIG_FILE, TRAIN_COMMAND, InputLimits, read_limits, save_limits
from models.reply.decoding import DecodingConfig, generate
from models.reply.features import PrefixLMCollator, ReplyTokenizer, encode_pair, source_ids, to_batch
from models.reply.onnx_decoder import DecoderShape, OnnxDecoder
from models.tokenization import load_tokenizer

__all__ = ["CONFIG_FILE", "TRAIN_COMMAND", "GeneratedReply", "InputLimits", "ReplyGenerator", "load_mlm",
           "read_limits", "save_limits"]

if TYPE_CHECKING:  # transformers takes seconds to import; generation on a warm ONNX cache never needs it
    from transformers import BertForMaskedLM, PreTrainedTokenizerBase

    from models.reply.modeling import CachedDecoder


@dataclass
class GeneratedReply:
    text: str
    score: float  # mean log-probability per token, [SEP] included


def load_mlm(folder: Path) -> BertForMaskedLM:
    """The torch model, imported and built only where it is used: ``backend=torch``, an ONNX export, and
    perplexity."""
    from transformers import BertForMaskedLM

    return BertForMaskedLM.from_pretrained(str(folder), dtype=torch.float32).eval()


def _torch_decoder(folder: Path) -> CachedDecoder:
    from models.reply.modeling import CachedDecoder

    return CachedDecoder(load_mlm(folder))


class ReplyGenerator:
    def __init__(self, model: BertForMaskedLM | None, tokenizer: PreTrainedTokenizerBase | ReplyTokenizer,
                 limits: InputLimits, decoder: CachedDecoder | OnnxDecoder | None = None,
                 folder: Path | None = None) -> None:
        """``model=None`` (ONNX) needs ``decoder``; ``folder`` is where ``perplexity`` loads the torch model
        from, on first use."""
        if model is None and (decoder is None or folder is None):
            raise ValueError("ReplyGenerator: without a torch model, pass decoder and folder")
        self._model = model.eval() if model is not None else None
        self.folder = folder
        if decoder is None:
            from models.reply.modeling import CachedDecoder

            decoder = CachedDecoder(self.model)
        self.decoder = decoder   # OnnxDecoder: the same steps in ONNX Runtime
        self.tokenizer = tokenizer
        self.limits = limits
        self.eos = tokenizer.sep_token_id
        # never generated: padding, [CLS], [MASK], [UNK], granularity and [unusedN] tokens
        self.banned = [i for i in tokenizer.all_special_ids if i != self.eos]
        self.banned += [i for t, i in tokenizer.get_vocab().items() if t.startswith("[unused") or t in
                        ("[FINE]", "[COARSE]", "[UNK]")]
        self.banned = sorted(set(self.banned))

    @property
    def model(self) -> BertForMaskedLM:
        """The torch model; an ONNX generator loads it on first use (only ``perplexity`` needs it)."""
        if self._model is None:
            self._model = load_mlm(self.folder)  # type: ignore[arg-type]
        return self._model

    @classmethod
    def from_pretrained(cls, folder: str | Path, backend: str = "torch", cache_dir: str | Path = "~/.cache/duihua"
                        ) -> ReplyGenerator:
        """Load a generator folder; ``backend=onnx|onnx-int8`` decodes through ONNX Runtime graphs exported
        into ``cache_dir`` on first use (perplexity keeps the torch forward).

        On ONNX the generator is built from the folder's JSON and tokenizer.json (``ReplyTokenizer``): the
        torch model is built only to export (a cache miss), so a warm cache never imports transformers."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        folder = Path(folder)
        limits = read_limits(folder)
        if backend == "torch":
            return cls(load_mlm(folder), load_tokenizer(folder), limits, folder=folder)
        files = [folder / "config.json", folder / "model.safetensors"]
        shape = DecoderShape.from_config(json.loads(files[0].read_text(encoding="utf-8")))
        decoder = OnnxDecoder.load(lambda: _torch_decoder(folder), shape, backend, files, cache_dir)
        return cls(None, ReplyTokenizer(folder), limits, decoder, folder)

    def _sources(self, contexts: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [source_ids(self.tokenizer, c, self.limits.max_source_chars, self.limits.max_turns)
                for c in contexts]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            attention[i, : len(row)] = 1
        return ids, attention

    def generate(self, contexts: Sequence[Sequence[str]], decoding: DecodingConfig | None = None,
                 batch_size: int = 32, progress: str | None = None) -> list[GeneratedReply]:
        """One reply per context (a list of turns, oldest first; an empty list is allowed), decoded
        ``batch_size`` contexts at a time; ``progress`` names a progress bar over the batches."""
        return [replies[0] for replies in self.sample(contexts, decoding, 1, batch_size, progress)]

    def sample(self, contexts: Sequence[Sequence[str]], decoding: DecodingConfig | None = None, n: int = 1,
               batch_size: int = 32, progress: str | None = None) -> list[list[GeneratedReply]]:
        """``n`` replies per context, decoded as rows of one batch (``batch_size`` contexts, so ``n`` times as
        many rows). Sample k of a context is seeded ``seed + k`` plus a hash of the context: the same context
        gets the same samples in any batch, and sample 0 is what ``generate`` answers. Greedy and beam search
        ignore the seed, so their ``n`` replies are equal."""
        decoding = decoding or DecodingConfig()
        out: list[list[GeneratedReply]] = []
        for i in tqdm(range(0, len(contexts), batch_size), desc=progress, unit="batch",
                      disable=None if progress else True):
            chunk = contexts[i : i + batch_size]
            ids, attention = self._sources(chunk)
            rows = torch.arange(len(chunk)).repeat_interleave(n)
            # per-row seeds from the context: the same context gets the same sampled reply, in any batch
            hashes = [zlib.crc32("\x1f".join(c).encode("utf-8")) for c in chunk]
            seeds = [decoding.seed + k + h for h in hashes for k in range(n)]
            decoded = generate(self.decoder, ids[rows], attention[rows], self.eos, decoding, self.banned, seeds)
            replies = [GeneratedReply(self.tokenizer.decode(seq, skip_special_tokens=True).replace(" ", ""), score)
                       for seq, score in decoded]
            out += [replies[j : j + n] for j in range(0, len(replies), n)]
        return out

    @torch.no_grad()
    def perplexity(self, pairs: Sequence[tuple[Sequence[str], str]], batch_size: int = 64) -> float:
        """exp(mean negative log-likelihood per reference token, the closing [SEP] included)."""
        from models.reply.modeling import prefix_lm_loss

        collate = PrefixLMCollator(self.tokenizer, mlm_probability=0.0)
        total, count = 0.0, 0
        for i in range(0, len(pairs), batch_size):
            items = [encode_pair(self.tokenizer, c, r, self.limits.max_source_chars, self.limits.max_turns,
                                 self.limits.max_target_chars) for c, r in pairs[i : i + batch_size]]
            batch = to_batch(collate(items))
            n = int((batch.lm_labels != -100).sum())
            loss, _ = prefix_lm_loss(self.model, batch, 0.0)
            total += float(loss) * n
            count += n
        return math.exp(total / max(count, 1))
