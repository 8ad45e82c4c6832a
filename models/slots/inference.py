"""Prediction with a trained slot-tagger checkpoint: constrained BIO decoding into scored character spans.

Decoding is Viterbi over the tag scores (log-probabilities, or with a CRF head its logits plus the learned
transitions) with one hard constraint, ``I-x`` only after ``B-x`` or ``I-x``, so a span never starts inside
itself or changes type half-way (argmax per character does both). A span's score is the mean probability of
its characters' tags: the CRF's marginals (forward-backward), or the softmax without a CRF. Torch or ONNX
Runtime (``backend``), as the other stages.

Under ``backend=onnx|onnx-int8`` the network is built only when its graph is not yet cached (inside the export
callback): with a warm cache, loading reads the config, the tokenizer's ids and the CRF transitions (one tensor
of the weights file), and neither transformers nor the torch model is imported or built. Inputs
are padded and outputs decoded in numpy on both backends, so that path does not import torch either: torch
comes in for ``backend=torch``, inside the export callback, and for ``classify`` (heads the graph lacks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.common.char_ids import CharIds
from models.common.onnx import BACKENDS, OnnxRunner, export_logits, load_runner
from models.common.persistence import WEIGHTS_FILE
from models.common.precision import autocast, length_batches
from models.common.slot_tags import SlotTagVocab
from models.slots.config import CONFIG_FILE, SlotCheckpoint, SlotHeadConfig, illegal_transitions
from models.slots.features import collate, collate_numpy, encode
from models.tokenization import load_char_ids, load_pad_id

if TYPE_CHECKING:  # modeling imports transformers, torch costs ~1.8 s: ONNX on a warm cache needs neither

    from models.slots.modeling import SlotTaggerModel


@dataclass(frozen=True)
class TaggedSpan:
    start: int
    end: int          # exclusive
    label: str
    score: float


def export_slots(model: SlotTaggerModel, path: Path) -> None:
    import torch

    from models.common.slot_fusion import export_example

    example = export_example(model.head_config.max_tags)
    if model.bigrams is not None:
        example["bigram_ids"] = torch.ones((3, 7, 2), dtype=torch.long)
    axes = {name: {0: "batch", 1: "seq"} for name in example}
    axes["logits"] = {0: "batch", 1: "seq"}
    export_logits(model, example, path, axes)


def export_checkpoint(folder: Path, path: Path) -> None:
    """Build the torch model of ``folder`` and export it: the cache-miss callback of the ONNX backends, so
    the model (and transformers) is loaded only when there is no cached graph."""
    from models.slots.modeling import SlotTaggerModel

    export_slots(SlotTaggerModel.load(folder), path)


@dataclass(frozen=True)
class TaggerSpec:
    """What decoding needs from a checkpoint besides the network: the head config, the encoder's position
    embeddings and the CRF transitions (None without a CRF). Read from the model, or from the files."""

    head: SlotHeadConfig
    max_positions: int
    transitions: np.ndarray | None

    @classmethod
    def of_model(cls, model: SlotTaggerModel) -> TaggerSpec:
        transitions = model.transitions.detach().float().cpu().numpy() if model.transitions is not None else None
        return cls(model.head_config, model.encoder_config.max_position_embeddings, transitions)

    @classmethod
    def read(cls, folder: Path) -> TaggerSpec:
        """The same numbers as ``of_model(SlotTaggerModel.load(folder))``: the weights file stores the
        transitions in fp16, and ``load`` widens them to fp32 as this does."""
        config = SlotCheckpoint.read_config(folder)
        head = SlotHeadConfig(**config["head"])
        transitions = None
        if head.crf:
            from safetensors import safe_open

            with safe_open(str(folder / WEIGHTS_FILE), framework="np") as weights:
                transitions = weights.get_tensor("transitions").astype(np.float32)
        return cls(head, config["encoder"]["max_position_embeddings"], transitions)


def transition_mask(tags: Sequence[str]) -> np.ndarray:
    """``allowed[i, j]``: tag j may follow tag i (row ``len(tags)`` is the sentence start)."""
    return ~np.array(illegal_transitions(list(tags)), dtype=bool)


def viterbi(scores: np.ndarray, allowed: np.ndarray, transitions: np.ndarray | None = None) -> list[int]:
    """Best tag path of ``scores`` (n x tags) under ``allowed`` transitions, plus learned ``transitions``
    ((tags + 1) x tags, last row from the start) when the model has a CRF."""
    penalty = np.where(allowed, 0.0, -1e9) + (transitions if transitions is not None else 0.0)
    score = scores[0] + penalty[-1]
    back = np.zeros(scores.shape, dtype=np.int64)
    for t in range(1, len(scores)):
        cand = score[:, None] + penalty[:-1]          # (prev, next)
        back[t] = cand.argmax(0)
        score = cand.max(0) + scores[t]
    path = [int(score.argmax())]
    for t in range(len(scores) - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def marginals(scores: np.ndarray, allowed: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """Per position, the CRF's marginal probability of each tag (forward-backward): the confidence of a CRF
    path. The emissions' own softmax is not one, since the transitions share the work.

    The recursions run in probability space, rescaled at every step, as vector-matrix products: the
    log-space form (a logsumexp over tags x tags per position) costs milliseconds per sentence at this tag
    count, this costs tens of microseconds, for the same numbers."""
    log_t = np.where(allowed, transitions, -np.inf)
    shift = transitions.max()
    step = np.exp(log_t[:-1] - shift)                                    # (K, K)
    emit = np.exp(scores - scores.max(axis=1, keepdims=True))            # (n, K), rows rescaled
    n = len(scores)
    alpha, beta = np.empty_like(emit), np.empty_like(emit)
    a = np.exp(log_t[-1] - shift) * emit[0]
    alpha[0] = a / a.sum()
    for t in range(1, n):
        a = (alpha[t - 1] @ step) * emit[t]
        alpha[t] = a / a.sum()
    beta[-1] = 1.0
    for t in range(n - 2, -1, -1):
        b = step @ (emit[t + 1] * beta[t + 1])
        beta[t] = b / b.sum()
    p = alpha * beta
    return p / p.sum(axis=1, keepdims=True)


def spans_of(path: Sequence[int], probs: np.ndarray, tags: Sequence[str]) -> list[TaggedSpan]:
    out, start = [], None
    for i, j in enumerate([*path, 0]):
        tag = tags[j] if i < len(path) else "O"
        if start is not None and not tag.startswith("I-"):
            label = tags[path[start]][2:]
            score = float(np.mean([probs[k, path[k]] for k in range(start, i)]))
            out.append(TaggedSpan(start, i, label, round(score, 4)))
            start = None
        if tag.startswith("B-"):
            start = i
    return out


class SlotTagger:
    def __init__(self, model: SlotTaggerModel | None, char_ids: CharIds, pad_id: int, precision: str = "fp32",
                 device: str = "cpu", batch_chars: int = 4096, onnx: OnnxRunner | None = None,
                 spec: TaggerSpec | None = None, folder: Path | None = None) -> None:
        """``model=None`` (the ONNX path) needs ``onnx`` and ``spec``; ``folder`` lets ``classify``, which
        reads heads the ONNX graph does not export, build the torch model when it is first asked."""
        if model is None and (onnx is None or spec is None):
            raise ValueError("a SlotTagger without a torch model needs an ONNX runner and a TaggerSpec")
        self.model = model.to(device).eval() if model is not None else None
        self.onnx, self.folder = onnx, folder
        spec = spec or TaggerSpec.of_model(model)
        self.head = spec.head
        self.tags = self.head.tags
        self.allowed = transition_mask(self.tags)
        self.char_ids, self.pad_id = char_ids, pad_id
        self.vocab = SlotTagVocab(self.head.slot_types, self.head.max_tags, "the slot tagger", self.head.lexicon_types)
        self.max_chars = spec.max_positions - 2
        self.transitions = spec.transitions
        self.precision, self.device, self.batch_chars = precision, device, batch_chars

    @classmethod
    def from_pretrained(cls, folder: str | Path, backend: str = "torch", cache_dir: str | Path = "~/.cache/duihua",
                        **kwargs: object) -> SlotTagger:
        """Load a checkpoint folder; ``backend=onnx|onnx-int8`` exports it to ``cache_dir`` on first use and
        otherwise runs the cached graph without building the torch model."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "torch":
            return cls._from_torch(folder, **kwargs)
        folder = SlotCheckpoint.check_folder(folder)
        spec = TaggerSpec.read(folder)
        runner = load_runner(backend, [folder / CONFIG_FILE, folder / WEIGHTS_FILE], cache_dir,
                             lambda path: export_checkpoint(folder, path), name="slots")
        char_ids = load_char_ids(folder)
        return cls(None, char_ids, load_pad_id(folder, char_ids.vocab), onnx=runner, spec=spec, folder=folder,
                   **kwargs)

    @classmethod
    def _from_torch(cls, folder: str | Path, **kwargs: object) -> SlotTagger:
        """The eager torch model (and its tokenizer through transformers, as it always was)."""
        from models.slots.modeling import SlotTaggerModel
        from models.tokenization import load_tokenizer

        folder = SlotTaggerModel.check_folder(folder)
        tokenizer = load_tokenizer(folder)
        model = SlotTaggerModel.load(folder)
        return cls(model, CharIds.from_tokenizer(tokenizer), tokenizer.pad_token_id or 0, folder=folder,
                   **kwargs)

    def _torch_model(self) -> SlotTaggerModel:
        """The eager model; an ONNX tagger builds it on first use (only ``classify`` needs it)."""
        if self.model is None:
            from models.slots.modeling import SlotTaggerModel

            if self.folder is None:
                raise RuntimeError("this SlotTagger has no torch model and no checkpoint folder to build one")
            self.model = SlotTaggerModel.load(self.folder).to(self.device).eval()
        return self.model

    def _encode(self, texts: Sequence[str], char_slots: Sequence[Sequence[Sequence[str]]] | None
                ) -> list[dict]:
        """Model inputs; without gazetteer tags (or without fusion) every character is "no slot"."""
        if char_slots is None or self.head.fusion != "gated":
            char_slots = [[] for _ in texts]
        return [encode(t, s, self.char_ids, self.vocab, self.max_chars, bigram_buckets=self.head.bigram_buckets)
                for t, s in zip(texts, char_slots, strict=True)]

    def _scores(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """float32 logits of a ``collate_numpy`` batch, from ONNX Runtime or the torch model."""
        if self.onnx is not None:
            return self.onnx.first_numpy(batch).astype(np.float32, copy=False)
        import torch

        model = self._torch_model()
        with torch.inference_mode(), autocast(self.precision, self.device):
            logits = model(**{k: torch.from_numpy(v).to(self.device) for k, v in batch.items()})["logits"]
        return logits.float().cpu().numpy()

    def logits(self, texts: Sequence[str], char_slots: Sequence[Sequence[Sequence[str]]] | None = None
               ) -> list[np.ndarray]:
        """Per text, the (n x tags) tag logits of its first ``max_chars`` characters."""
        items = self._encode(texts, char_slots)
        out: list[np.ndarray] = [np.zeros((0, len(self.tags)), np.float32)] * len(items)
        for idx in length_batches([len(x["input_ids"]) for x in items], self.batch_chars):
            z = self._scores(collate_numpy([items[i] for i in idx], self.pad_id))
            for row, i in enumerate(idx):
                out[i] = z[row, 1:len(items[i]["input_ids"]) - 1]
        return out

    def classify(self, texts: Sequence[str], char_slots: Sequence[Sequence[Sequence[str]]] | None = None
                 ) -> tuple[list[str | None], list[str | None]]:
        """The joint model's argmax domain and ``domain/intent`` per text (None where it has no such head).
        The heads are not in the ONNX graph, so this runs the torch model on either backend."""
        import torch

        items = self._encode(texts, char_slots)
        domains: list[str | None] = [None] * len(items)
        intents: list[str | None] = [None] * len(items)
        for idx in length_batches([len(x["input_ids"]) for x in items], self.batch_chars):
            with torch.inference_mode():
                out = self._torch_model()(**collate([items[i] for i in idx], self.pad_id))
            for key, labels, target in (("domain_logits", self.head.domains, domains),
                                        ("intent_logits", self.head.intents, intents)):
                if key in out:
                    for row, i in enumerate(idx):
                        target[i] = labels[int(out[key][row].argmax())]
        return domains, intents

    def predict(self, texts: Sequence[str], char_slots: Sequence[Sequence[Sequence[str]]] | None = None
                ) -> list[list[TaggedSpan]]:
        """Spans per text (offsets into the text); ``char_slots=None`` tags without gazetteer evidence."""
        out = []
        for z in self.logits(texts, char_slots):
            if not len(z):
                out.append([])
                continue
            if self.transitions is not None:
                path, p = viterbi(z, self.allowed, self.transitions), marginals(z, self.allowed, self.transitions)
            else:
                e = np.exp(z - z.max(axis=-1, keepdims=True))
                p = e / e.sum(axis=-1, keepdims=True)
                path = viterbi(np.log(np.clip(p, 1e-9, 1.0)), self.allowed)
            out.append(spans_of(path, p, self.tags))
        return out
