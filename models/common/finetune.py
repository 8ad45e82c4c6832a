"""Fine-tuning methods every encoder stage can use: ``finetune.method`` and its size knobs (conf/finetune).

* ``full``: every parameter trains (``freeze_layers=k`` optionally freezes the embeddings and lowest k layers).
* ``freeze``: the embeddings and the lowest ``freeze_layers`` layers are frozen (default: all but the top one).
* ``bitfit``: only bias terms train (Ben Zaken et al., 2022).
* ``adapter``: a bottleneck ``x + W_up relu(W_down x)`` after each transformer layer's output (Houlsby et al.,
  2019; one adapter per layer, after the FFN block, as Pfeiffer et al. 2021); ``W_up`` starts at zero, so the
  model starts out as the pre-trained encoder. Only adapters train.
* ``ptuning``: ``prompt_tokens`` trainable embeddings (the [unusedN] rows they start from) are inserted after
  [CLS]; every encoder weight is frozen (Liu et al., 2021). With ``reparam: mlp`` the prompts are produced by a
  small residual MLP during training, which steadies their optimisation; only its output is stored.

The task head, which is new, always trains. Adapters and prompts are installed with forward hooks on the
existing ``BertModel`` (no wrapper), so parameter names of the base encoder stay unchanged and a delta
(``models/common/delta.py``) composes onto a plain pre-trained encoder.
``pet`` is the cloze method of ``models/fewshot/cloze.py``; its encoder is trained with one of the above.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from models.common.errors import TrainConfigError

METHODS = ("full", "freeze", "bitfit", "adapter", "ptuning", "pet")
ENCODER_METHODS = METHODS[:5]   # what ``apply_finetune`` does to an encoder; pet is a model of its own
REPARAMS = ("none", "mlp")


class FinetuneConfigError(TrainConfigError):
    """A ``finetune.*`` value is wrong; the message names the key."""


class Adapter(nn.Module):
    """``x + up(relu(down(x)))``; ``up`` is zero-initialised so a fresh adapter is the identity."""

    def __init__(self, hidden: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(torch.relu(self.down(x)))


def _adapter_hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    return module.adapter(output)


def add_adapters(encoder: nn.Module, bottleneck: int) -> list[str]:
    """Put an ``Adapter`` into each layer's ``output`` block (after its residual LayerNorm); idempotent."""
    names = []
    for i, layer in enumerate(encoder.encoder.layer):
        block = layer.output
        if not hasattr(block, "adapter"):
            block.adapter = Adapter(encoder.config.hidden_size, bottleneck)
            block.register_forward_hook(_adapter_hook)
        names.append(f"encoder.layer.{i}.output.adapter")
    return names


class PromptTable(nn.Module):
    """The prompt vectors inserted after [CLS]. ``reparam=mlp``: ``p + MLP(p)`` while training; ``bake()``
    replaces the table by that output and drops the MLP, so the stored delta is only ``n x d`` numbers."""

    def __init__(self, init: torch.Tensor, reparam: str = "none") -> None:
        super().__init__()
        self.embeddings = nn.Parameter(init.clone())
        d = init.shape[1]
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, d)) if reparam == "mlp" else None
        if self.mlp is not None:
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)

    def forward(self) -> torch.Tensor:
        return self.embeddings if self.mlp is None else self.embeddings + self.mlp(self.embeddings)

    @torch.no_grad()
    def bake(self) -> None:
        if self.mlp is not None:
            self.embeddings.copy_(self())
            self.mlp = None


def _prompt_pre_hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """input_ids -> inputs_embeds with the prompt vectors spliced in after position 0 ([CLS])."""
    ids = kwargs.pop("input_ids", None)
    if ids is None:
        ids, args = args[0], args[1:]
    embeds = module.embeddings.word_embeddings(ids)
    prompts = module.prompt().to(embeds.dtype).unsqueeze(0).expand(ids.shape[0], -1, -1)
    kwargs["inputs_embeds"] = torch.cat([embeds[:, :1], prompts, embeds[:, 1:]], dim=1)
    mask = kwargs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(ids)
    kwargs["attention_mask"] = torch.cat([mask[:, :1], mask.new_ones(ids.shape[0], prompts.shape[1]), mask[:, 1:]],
                                         dim=1)
    for key in ("token_type_ids", "position_ids"):
        kwargs.pop(key, None)   # BertModel rebuilds them for the longer sequence
    return args, kwargs


def _prompt_post_hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
    """Drop the prompt positions again, so callers see one hidden state per input token."""
    n = module.prompt.embeddings.shape[0]
    h = output.last_hidden_state
    output.last_hidden_state = torch.cat([h[:, :1], h[:, 1 + n:]], dim=1)
    return output


def add_prompts(encoder: nn.Module, n: int, init_ids: list[int], reparam: str = "none") -> None:
    """Install ``n`` prompt vectors on a ``BertModel`` (``encoder.prompt``), initialised from ``init_ids``."""
    if hasattr(encoder, "prompt"):
        return
    if len(init_ids) < n:
        raise FinetuneConfigError(f"finetune.prompt_tokens={n}: the vocabulary has only {len(init_ids)} "
                                  "[unusedN] tokens to start prompts from")
    init = encoder.embeddings.word_embeddings.weight.detach()[torch.tensor(init_ids[:n])].float()
    encoder.prompt = PromptTable(init, reparam)
    encoder.register_forward_pre_hook(_prompt_pre_hook, with_kwargs=True)
    encoder.register_forward_hook(_prompt_post_hook, with_kwargs=True)


def unused_ids(encoder: nn.Module, tokenizer: Any = None) -> list[int]:
    """Ids of [unused0..99] (the tokenizer's, or duihua's layout: right after the 7 core/granularity tokens)."""
    if tokenizer is not None:
        vocab = tokenizer.get_vocab()
        return [vocab[f"[unused{i}]"] for i in range(100) if f"[unused{i}]" in vocab]
    return list(range(7, min(107, encoder.config.vocab_size)))


def check_options(method: str, knobs: Mapping[str, Any] | None = None) -> None:
    """Fail on a bad method or knob before anything is built; messages name the config key."""
    knobs = knobs or {}
    if method not in METHODS:
        raise FinetuneConfigError(f"finetune.method: expected one of {', '.join(METHODS)}, got {method!r}")
    for key in ("adapter_size", "prompt_tokens"):
        if key in knobs and int(knobs[key]) < 1:
            raise FinetuneConfigError(f"finetune.{key} must be >= 1, got {knobs[key]}")
    if knobs.get("reparam", "none") not in REPARAMS:
        raise FinetuneConfigError(f"finetune.reparam: expected one of {REPARAMS}, got {knobs.get('reparam')!r}")


def apply_finetune(model: nn.Module, encoder: nn.Module, method: str = "full", freeze_layers: int | None = 0,
                   adapter_size: int = 64, prompt_tokens: int = 8, reparam: str = "none",
                   prompt_ids: list[int] | None = None) -> dict:
    """Install the method's modules on ``encoder`` (a BertModel inside ``model``) and set ``requires_grad``
    on ``model``: its non-encoder parameters (task heads) always train. Returns parameter counts."""
    check_options(method, {"adapter_size": adapter_size, "prompt_tokens": prompt_tokens, "reparam": reparam})
    if method == "pet":
        raise FinetuneConfigError("finetune.method=pet is a cloze model of its own (models/fewshot/cloze.py); "
                                  "the encoder stages take full, freeze, bitfit, adapter or ptuning")
    layers = encoder.encoder.layer
    if method == "freeze" and not freeze_layers:
        freeze_layers = len(layers) - 1
    freeze_layers = int(freeze_layers or 0)
    if freeze_layers > len(layers):
        raise FinetuneConfigError(f"finetune.freeze_layers={freeze_layers} but the encoder has {len(layers)} layers")
    if method == "adapter":
        add_adapters(encoder, int(adapter_size))
    elif method == "ptuning":
        add_prompts(encoder, int(prompt_tokens), prompt_ids or unused_ids(encoder), reparam)
    encoder_params = {id(p) for p in encoder.parameters()}
    for name, param in model.named_parameters():
        if id(param) not in encoder_params:
            param.requires_grad = True  # task heads always train
        elif method == "bitfit":
            param.requires_grad = name.endswith(".bias")
        elif method == "adapter":
            param.requires_grad = ".adapter." in name
        elif method == "ptuning":
            param.requires_grad = ".prompt." in name or name.startswith("prompt.")
        else:
            param.requires_grad = True
    if freeze_layers or method == "freeze":
        for module in [encoder.embeddings, *layers[:freeze_layers]]:
            for param in module.parameters():
                param.requires_grad = False
    return parameter_counts(model)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": sum(p.numel() for p in model.parameters())}


def finetune_kwargs(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """``apply_finetune`` keyword arguments from a ``finetune`` config node (missing keys: defaults)."""
    cfg = dict(cfg or {})
    keys = ("method", "freeze_layers", "adapter_size", "prompt_tokens", "reparam")
    return {k: cfg[k] for k in keys if k in cfg and cfg[k] is not None}
