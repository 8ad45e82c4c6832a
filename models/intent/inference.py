"""Prediction with a trained intent checkpoint: calibrated scores, hierarchical decoding, top-k, gates.

Decoding (``mode``): ``hierarchical`` (the pipeline's default) lets the domain head pick the domain; when that
domain has intents (SMP2019 labels), the intent head picks among that domain's intents only, and the label is
``domain/intent`` with score ``p(domain) * p(intent | domain)``; otherwise the label is the domain. ``domain``
and ``intent`` decode one head alone, in its own label scheme: that is how each dataset is scored, because
the two schemes disagree on some queries (把张三的电话发给李四 is SMP2017 ``contacts`` but SMP2019
``message/SENDCONTACTS``). Scores use the temperatures fitted on
dev after training (``HeadConfig.*_temperature``), so a score of 0.8 means right about 80 % of the time on
dev, which is what makes a fixed ``unknown`` threshold meaningful.

Pre- and post-processing are numpy, shared by both backends: on ONNX (``backend=onnx|onnx-int8``) with a warm
cache nothing here imports torch; it is imported for ``backend=torch`` and inside the export callback of a
cache miss (``models.intent.onnx_export``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.common.char_ids import CharIds
from models.common.onnx import BACKENDS, OnnxRunner, load_runner
from models.common.persistence import WEIGHTS_FILE
from models.common.precision import autocast, length_batches
from models.common.slot_tags import SlotTagVocab
from models.intent.config import CONFIG_FILE, HeadConfig, IntentCheckpoint, read_head_config
from models.intent.data import INTENT_SEP
from models.intent.features import collate_numpy, encode_text
from models.tokenization import load_char_ids, load_pad_id, load_tokenizer

if TYPE_CHECKING:  # modeling imports transformers (seconds); ONNX on a warm cache never builds the model
    from models.intent.modeling import SlotAwareIntentModel

UNKNOWN = "unknown"
DECODE_MODES = ("hierarchical", "domain", "intent")


@dataclass
class IntentResult:
    label: str                       # domain, or domain/intent
    domain: str
    intent: str | None
    score: float                     # calibrated probability of ``label``
    top_k: list[tuple[str, float]] = field(default_factory=list)
    gates: list[float] | None = None  # per character of the text (None without gated fusion)


def unused_token_ids(char_ids: CharIds) -> list[int]:
    return [char_ids.vocab[f"[unused{i}]"] for i in range(100) if f"[unused{i}]" in char_ids.vocab]


def _load_model(folder: Path) -> SlotAwareIntentModel:
    """The torch model, imported and built only when it is needed: ``backend=torch``, or an ONNX export."""
    from models.intent.modeling import SlotAwareIntentModel

    return SlotAwareIntentModel.load(folder)


def _export(folder: Path, path: Path) -> None:
    """The export callback of an ONNX cache miss: the only place the ONNX path imports torch."""
    from models.intent.onnx_export import export_intent

    export_intent(_load_model(folder), path)


class IntentClassifier:
    def __init__(self, model: SlotAwareIntentModel | None, char_ids: CharIds, pad_id: int, precision: str = "fp32",
                 device: str = "cpu", batch_chars: int = 4096, max_chars: int = 254,
                 onnx: OnnxRunner | None = None, head: HeadConfig | None = None,
                 max_positions: int | None = None) -> None:
        """``model=None`` runs ``onnx`` alone, described by ``head`` and the encoder's ``max_positions``: what a
        warm ONNX cache needs, so no torch model is built (nor transformers imported) to sit unused."""
        if model is not None:
            model = model.to(device).eval()
            head, max_positions = model.head_config, model.encoder_config.max_position_embeddings
        elif onnx is None or head is None or max_positions is None:
            raise ValueError("IntentClassifier: without a torch model, pass onnx, head and max_positions")
        self.model = model
        self.onnx = onnx   # when set, forward passes run in ONNX Runtime instead of torch
        self.head = head
        self.n_domains, self.n_intents = max(1, len(head.domains)), max(1, len(head.intents))  # the heads' widths
        self.char_ids, self.pad_id = char_ids, pad_id
        self.vocab = SlotTagVocab(self.head.slot_types, self.head.max_tags, "the intent model", self.head.lexicon_types)
        self.unused = unused_token_ids(char_ids)
        # room for [CLS] [SEP] and, with token fusion, one token per slot type and a second [SEP]
        extra = len(self.head.slot_types) + 1 if self.head.fusion == "tokens" else 0
        max_chars = min(max_chars, max_positions - 2 - extra)
        self.precision, self.device, self.batch_chars, self.max_chars = precision, device, batch_chars, max_chars
        self.domain_index = {d: i for i, d in enumerate(self.head.domains)}
        # per domain, the intent-head rows of its intents
        self.domain_intents: dict[str, list[int]] = {}
        for j, label in enumerate(self.head.intents):
            self.domain_intents.setdefault(label.split(INTENT_SEP, 1)[0], []).append(j)

    @classmethod
    def from_pretrained(cls, folder: str | Path, backend: str = "torch", cache_dir: str | Path = "~/.cache/duihua",
                        **kwargs: object) -> IntentClassifier:
        """Load a checkpoint folder; ``backend=onnx|onnx-int8`` exports it to ``cache_dir`` on first use.

        On ONNX the classifier is built from the checkpoint's JSON and tokenizer.json: the torch model is
        built only inside the export callback (a cache miss) and dropped after, so a warm cache costs no
        transformers import and no model construction."""
        folder = IntentCheckpoint.check_folder(folder)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "torch":
            tokenizer = load_tokenizer(folder)
            return cls(_load_model(folder), CharIds.from_tokenizer(tokenizer), tokenizer.pad_token_id or 0,
                       **kwargs)
        encoder, head = read_head_config(folder)
        runner = load_runner(backend, [folder / CONFIG_FILE, folder / WEIGHTS_FILE], cache_dir,
                             lambda path: _export(folder, path))
        char_ids = load_char_ids(folder)
        return cls(None, char_ids, load_pad_id(folder, char_ids.vocab), onnx=runner, head=head,
                   max_positions=int(encoder.get("max_position_embeddings", 512)), **kwargs)

    def _forward(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's (or model's) float32 outputs; ``gates`` only with gated fusion."""
        out = self.onnx.run_numpy(batch) if self.onnx is not None else self._torch_forward(batch)
        return out if self.head.fusion == "gated" else {k: v for k, v in out.items() if k != "gates"}

    def _torch_forward(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``backend=torch``: the numpy batch as tensors through the model, its outputs back as float32 numpy."""
        import torch

        with torch.inference_mode(), autocast(self.precision, self.device):
            out = self.model(**{k: torch.from_numpy(v).to(self.device) for k, v in batch.items()})
            return {k: out[k].float().cpu().numpy() for k in ("domain_logits", "intent_logits", "gates") if k in out}

    def logits(self, texts: Sequence[str], char_slots: Sequence[Sequence[Sequence[str]]]
               ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray | None]]:
        """Raw (uncalibrated) domain and intent logits, and per-text gate values, in input order."""
        items = [encode_text(t, s, self.char_ids, self.vocab, self.max_chars, self.head.fusion, self.unused,
                             self.head.ngram_buckets)
                 for t, s in zip(texts, char_slots, strict=True)]
        dom = np.zeros((len(items), self.n_domains), np.float32)
        intent = np.zeros((len(items), self.n_intents), np.float32)
        gates: list[np.ndarray | None] = [None] * len(items)
        for idx in length_batches([len(x["input_ids"]) for x in items], self.batch_chars):
            out = self._forward(collate_numpy([items[i] for i in idx], self.pad_id))
            dom[idx] = out["domain_logits"]
            intent[idx] = out["intent_logits"]
            if "gates" in out:
                g = out["gates"]
                for row, i in enumerate(idx):
                    n = min(len(texts[i]), self.max_chars)
                    # characters past max_chars were not seen: they get gate 1 (text only, no slot evidence)
                    gates[i] = np.pad(g[row, 1:n + 1], (0, len(texts[i]) - n), constant_values=1.0)
        return dom, intent, gates

    def decode(self, dom_logits: np.ndarray, intent_logits: np.ndarray, top_k: int = 3,
               mode: str = "hierarchical") -> list[tuple[str, str, str | None, float, list[tuple[str, float]]]]:
        """Decode a batch of logits: ``hierarchical`` (module docstring), or one head alone: ``domain`` (the
        domain scheme, e.g. SMP2017's) or ``intent`` (the ``domain/intent`` scheme, e.g. SMP2019's)."""
        return self.decode_probabilities(*self.probabilities(dom_logits, intent_logits), top_k, mode)

    def probabilities(self, dom_logits: np.ndarray, intent_logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated domain and intent probabilities (the temperatures fitted on dev)."""
        return (softmax(dom_logits / self.head.domain_temperature),
                softmax(intent_logits / self.head.intent_temperature))

    def decode_probabilities(self, p_dom: np.ndarray, p_all: np.ndarray, top_k: int = 3, mode: str = "hierarchical"
                             ) -> list[tuple[str, str, str | None, float, list[tuple[str, float]]]]:
        """``decode`` from probabilities (an ensemble averages its members' before decoding)."""
        if mode not in DECODE_MODES:
            raise ValueError(f"decode: expected one of {DECODE_MODES}, got {mode!r}")
        out = []
        for row in range(len(p_dom)):
            if mode == "domain" or (mode == "intent" and not self.head.intents):
                scored = list(zip(self.head.domains, p_dom[row].tolist(), strict=True))
            elif mode == "intent":
                scored = list(zip(self.head.intents, p_all[row].tolist(), strict=True))
            else:
                scored = []
                for d, i in self.domain_index.items():
                    rows = self.domain_intents.get(d)
                    if not rows:
                        scored.append((d, float(p_dom[row, i])))
                        continue
                    p_int = p_all[row, rows] / p_all[row, rows].sum()
                    scored.extend((self.head.intents[j], float(p_dom[row, i] * p))
                                  for j, p in zip(rows, p_int, strict=True))
            scored.sort(key=lambda x: -x[1])
            label, score = scored[0]
            if mode == "hierarchical":   # the domain head's argmax decides the domain, then its best intent
                best = self.head.domains[int(p_dom[row].argmax())]
                label, score = next((lab, sc) for lab, sc in scored if lab.partition(INTENT_SEP)[0] == best)
            domain, _, intent = label.partition(INTENT_SEP)
            out.append((label, domain, intent or None, score, scored[:top_k]))
        return out

    def predict(self, texts: Sequence[str], char_slots: Sequence[Sequence[Sequence[str]]] | None = None,
                top_k: int = 3, mode: str = "hierarchical") -> list[IntentResult]:
        """``char_slots=None`` (or empty lists) classifies without gazetteer evidence; ``mode``: see decode."""
        if char_slots is None:
            char_slots = [[] for _ in texts]
        dom, intent, gates = self.logits(texts, char_slots)
        decoded = self.decode(dom, intent, top_k, mode)
        return [IntentResult(label, domain, intent_name, score, top, None if g is None else g.round(4).tolist())
                for (label, domain, intent_name, score, top), g in zip(decoded, gates, strict=True)]


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
