"""The reply generator: one BERT with a prefix-LM attention mask (UniLM's seq2seq mask), tied embeddings.

Input layout, token types in brackets::

    [CLS] turn_1 [SEP] turn_2 [SEP] ... turn_k [SEP]   (0)   |   r_1 r_2 ... r_m [SEP]   (1)
    \\______________ source: attends bidirectionally ______/   \\__ target: source + earlier target __/

Position j of the sequence predicts token j+1 (nanoGPT's shift): the source's last [SEP] predicts r_1, r_m
predicts the closing [SEP]. A source position never sees the target and a target position never sees a later
one, so decoding can cache every layer's keys/values (``past``) and feed one new token per step: the cached
computation is exactly the training-time one.

Why a BertForMaskedLM and not a bespoke decoder: the shared encoder *is* a BERT MLM (``duihua train
pretrain``), so every weight, the tied output embedding and its bias included, starts pre-trained; and any
hub BERT (``encoder=hf``) fits unchanged. Training adds a source-side MLM loss (15 % of source characters
masked, predicted bidirectionally) next to the target LM loss, keeping the encoder's pre-training task alive.
"""

from __future__ import annotations

import torch
from transformers import BertForMaskedLM
from transformers.modeling_outputs import MaskedLMOutput

# decoding state and steps, and the batch type, live in transformers-free modules (ONNX generation imports
# them without this one); re-exported here for compatibility
from models.reply.decoding import IncrementalState, decode_step, encode_source
from models.reply.features import ReplyBatch

__all__ = ["NEG_INF", "CachedDecoder", "IncrementalState", "PrefixLMBert", "ReplyBatch", "decode_step",
           "encode_source", "prefix_lm_loss", "prefix_lm_mask"]

NEG_INF = torch.finfo(torch.float32).min


def prefix_lm_mask(token_type_ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Additive mask (B, 1, T, T): query i may see key j iff j is real and (j is source, or j ≤ i).

    Source queries therefore see the whole source and no target (target keys have j > every source i);
    target queries see the source and the target up to themselves.
    """
    t = token_type_ids.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=token_type_ids.device).tril()  # (T, T) j <= i
    source_key = (token_type_ids == 0)[:, None, :]  # (B, 1, T)
    allowed = (causal[None] | source_key) & attention.bool()[:, None, :]  # (B, T, T)
    return torch.zeros(allowed.shape, dtype=torch.float32, device=allowed.device).masked_fill(
        ~allowed, NEG_INF)[:, None]


def prefix_lm_loss(model: BertForMaskedLM, batch: ReplyBatch, mlm_weight: float
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Target LM loss + ``mlm_weight`` × source MLM loss, and each part. Only labelled positions are projected onto the
    vocabulary (most positions carry no label and the projection dominates a small model's FLOPs)."""
    mask = prefix_lm_mask(batch.token_type_ids, batch.attention).to(model.dtype)
    hidden = model.bert(input_ids=batch.input_ids, token_type_ids=batch.token_type_ids,
                        attention_mask=mask).last_hidden_state  # (B, T, H)
    parts: dict[str, torch.Tensor] = {}
    for name, labels in (("lm", batch.lm_labels), ("mlm", batch.mlm_labels)):
        selected = labels != -100
        if selected.any():
            logits = model.cls(hidden[selected])  # (n, V)
            parts[name] = torch.nn.functional.cross_entropy(logits.float(), labels[selected])
    loss = parts.get("lm", hidden.new_zeros(()))
    if "mlm" in parts and mlm_weight:
        loss = loss + mlm_weight * parts["mlm"]
    return loss, parts


class CachedDecoder:
    """The generator's inference path: the same BERT weights, run layer by layer with a key/value cache.

    Why not ``BertModel(past_key_values=...)``: at one token per step the transformers module stack costs more
    in Python overhead than the arithmetic of a 4-layer model (about 4.5 ms against 1.5 ms per step on 2 CPU
    cores), and a 20-character reply takes 20 steps. Here Q/K/V are one fused matmul, attention is
    ``scaled_dot_product_attention`` over the cache, and the cache is plain tensors that beam search reorders
    by indexing. Parity with the full prefix-LM forward is tested (``tests/models/test_reply.py``).
    """

    @torch.no_grad()
    def __init__(self, model: BertForMaskedLM) -> None:
        cfg = model.config
        if cfg.hidden_act not in ("gelu", "gelu_new", "gelu_python"):
            raise ValueError(f"CachedDecoder supports GELU BERTs, not hidden_act={cfg.hidden_act!r}")
        self.heads, self.eps, self.hidden_size = cfg.num_attention_heads, cfg.layer_norm_eps, cfg.hidden_size
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        self.max_positions = cfg.max_position_embeddings
        emb = model.bert.embeddings
        self.word, self.position, self.types = (emb.word_embeddings.weight, emb.position_embeddings.weight,
                                                emb.token_type_embeddings.weight)
        self.emb_norm = (emb.LayerNorm.weight, emb.LayerNorm.bias)
        self.layers = []
        for layer in model.bert.encoder.layer:
            att = layer.attention
            self.layers.append({
                "qkv_w": torch.cat([att.self.query.weight, att.self.key.weight, att.self.value.weight]).t()
                .contiguous(),
                "qkv_b": torch.cat([att.self.query.bias, att.self.key.bias, att.self.value.bias]),
                "o_w": att.output.dense.weight.t().contiguous(), "o_b": att.output.dense.bias,
                "ln1": (att.output.LayerNorm.weight, att.output.LayerNorm.bias),
                "up_w": layer.intermediate.dense.weight.t().contiguous(), "up_b": layer.intermediate.dense.bias,
                "down_w": layer.output.dense.weight.t().contiguous(), "down_b": layer.output.dense.bias,
                "ln2": (layer.output.LayerNorm.weight, layer.output.LayerNorm.bias)})
        head = model.cls.predictions
        self.head_w, self.head_b = head.transform.dense.weight.t().contiguous(), head.transform.dense.bias
        self.head_norm = (head.transform.LayerNorm.weight, head.transform.LayerNorm.bias)
        self.vocab_w = head.decoder.weight.t().contiguous()  # tied to the input embeddings at training time
        self.vocab_b = head.decoder.bias if head.decoder.bias is not None else head.bias

    @staticmethod
    def affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """x @ w + b as one fused addmm (the ONNX export traces it as MatMul + Add, which int8 quantizes)."""
        return torch.addmm(b, x, w)

    def _norm(self, x: torch.Tensor, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return torch.nn.functional.layer_norm(x, (self.hidden_size,), params[0], params[1], self.eps)

    def forward(self, ids: torch.Tensor, types: torch.Tensor, positions: torch.Tensor, key_mask: torch.Tensor,
                cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Run T new tokens (B, T) over the cache; returns their last hidden states (B, T, H) and appends
        their keys/values to ``cache``. ``key_mask`` (B, S+T) is 1 for real keys. Every new token sees every
        real key: right for the bidirectional source block and for one reply token per step."""
        if int(positions.max()) >= self.max_positions:
            raise ValueError(f"position {int(positions.max())} exceeds the model's {self.max_positions}")
        x = self.word[ids] + self.position[positions] + self.types[types]  # (B, T, H)
        x = self._norm(x, self.emb_norm)
        b, t, _ = x.shape
        allowed = key_mask.bool()[:, None, None, :]  # (B, 1, 1, S+T)
        for i, layer in enumerate(self.layers):
            qkv = self.affine(x.reshape(b * t, -1), layer["qkv_w"], layer["qkv_b"])  # (B*T, 3H)
            q, k, v = qkv.view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, nh, T, hd)
            if len(cache) > i:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
                cache[i] = (k, v)
            else:
                cache.append((k, v))
            att = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, nh, T, hd)
            att = att.transpose(1, 2).reshape(b * t, -1)
            x = self._norm(self.affine(att, layer["o_w"], layer["o_b"]).view(b, t, -1) + x, layer["ln1"])
            h = torch.nn.functional.gelu(self.affine(x.reshape(b * t, -1), layer["up_w"], layer["up_b"]))
            x = self._norm(self.affine(h, layer["down_w"], layer["down_b"]).view(b, t, -1) + x, layer["ln2"])
        return x

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(N, H) -> (N, V) next-token logits through the MLM head."""
        h = torch.nn.functional.gelu(self.affine(hidden, self.head_w, self.head_b))
        return self.affine(self._norm(h, self.head_norm), self.vocab_w, self.vocab_b).float()


class PrefixLMBert(BertForMaskedLM):
    """BertForMaskedLM whose ``forward`` takes prefix-LM batches (``features.PrefixLMCollator``) and returns
    the combined loss, so the HF Trainer can drive it. Its weights are a plain BERT MLM: ``from_pretrained``
    of ``BertForMaskedLM`` loads them back."""

    mlm_weight: float = 0.5

    def forward(self, input_ids=None, token_type_ids=None, attention_mask=None, lm_labels=None,  # noqa: ANN001
                mlm_labels=None, **kwargs):  # noqa: ANN001, ANN003 - Trainer passes the collator's keys
        batch = ReplyBatch(input_ids, token_type_ids, attention_mask, lm_labels,
                           mlm_labels if mlm_labels is not None else torch.full_like(input_ids, -100))
        loss, _ = prefix_lm_loss(self, batch, self.mlm_weight if self.training else 0.0)
        return MaskedLMOutput(loss=loss, logits=None)
