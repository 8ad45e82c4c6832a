"""Fine-tuning options every encoder stage can use: ``finetune.freeze_layers=k`` and ``finetune.method``.

* ``full``: every parameter trains.
* ``bitfit``: only bias terms train (Ben Zaken et al., 2022), plus the task head, which is new.
* ``freeze_layers=k``: embeddings and the lowest k transformer layers are frozen (combinable with ``full``).
"""

from __future__ import annotations

from torch import nn

METHODS = ("full", "bitfit")


def apply_finetune(model: nn.Module, encoder: nn.Module, method: str = "full", freeze_layers: int = 0) -> dict:
    """Set ``requires_grad`` on ``model`` (which contains ``encoder``, a BertModel); returns parameter counts."""
    if method not in METHODS:
        raise ValueError(f"finetune.method: expected one of {METHODS}, got {method!r}")
    encoder_params = {id(p) for p in encoder.parameters()}
    for name, param in model.named_parameters():
        if id(param) not in encoder_params:
            param.requires_grad = True  # task heads always train
        elif method == "bitfit":
            param.requires_grad = name.endswith(".bias")
        else:
            param.requires_grad = True
    if freeze_layers:
        layers = encoder.encoder.layer
        if freeze_layers > len(layers):
            raise ValueError(f"finetune.freeze_layers={freeze_layers} but the encoder has {len(layers)} layers")
        for module in [encoder.embeddings, *layers[:freeze_layers]]:
            for param in module.parameters():
                param.requires_grad = False
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total}
