"""Autoregressive decoding over the cached prefix-LM: greedy, beam search, and top-k / top-p sampling.

All strategies share one step function (``decode_step``: one new token per row, every earlier key and
value cached), the same length limits and the same repetition penalty (CTRL's: a logit of a token already in
the reply is divided by the penalty when positive, multiplied when negative). Sampling draws from a
``torch.Generator`` seeded per call, so the same inputs and seed give the same replies on any run.
"""

from __future__ import annotations

from typing import Protocol

import torch

from models.reply.config import DecodingConfig  # noqa: F401 - re-exported


class Decoder(Protocol):
    """What decoding needs of a model: ``modeling.CachedDecoder`` (torch) or ``onnx_decoder.OnnxDecoder``.
    A protocol rather than the class, so this module never imports modeling (and with it transformers)."""

    def forward(self, ids: torch.Tensor, types: torch.Tensor, positions: torch.Tensor, key_mask: torch.Tensor,
                cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor: ...

    def logits(self, hidden: torch.Tensor) -> torch.Tensor: ...


class IncrementalState:
    """What decoding carries between steps: the cache, the key mask and each row's next position."""

    def __init__(self, cache: list[tuple[torch.Tensor, torch.Tensor]], key_mask: torch.Tensor,
                 next_position: torch.Tensor) -> None:
        self.cache = cache
        self.key_mask = key_mask            # (B, S) 1 where a cached key is real
        self.next_position = next_position  # (B,)

    def select(self, rows: torch.Tensor) -> None:
        """Keep / reorder rows (beam search)."""
        self.cache = [(k[rows], v[rows]) for k, v in self.cache]
        self.key_mask = self.key_mask[rows]
        self.next_position = self.next_position[rows]


@torch.no_grad()
def encode_source(decoder: Decoder, source_ids: torch.Tensor, source_attention: torch.Tensor
                  ) -> tuple[torch.Tensor, IncrementalState]:
    """Run the right-padded sources once (bidirectionally); returns the logits for each row's first reply
    token (read at its final [SEP]) and the state. Pad keys stay masked for every later step."""
    b, s = source_ids.shape
    positions = torch.arange(s)[None].expand(b, s)
    cache: list[tuple[torch.Tensor, torch.Tensor]] = []
    hidden = decoder.forward(source_ids, torch.zeros_like(source_ids), positions, source_attention, cache)
    lengths = source_attention.sum(1)
    last = hidden[torch.arange(b), lengths - 1]  # (B, H)
    return decoder.logits(last), IncrementalState(cache, source_attention.clone(), lengths.clone())


@torch.no_grad()
def decode_step(decoder: Decoder, token: torch.Tensor, state: IncrementalState) -> torch.Tensor:
    """Feed one reply token per row (B,), extend the cache, return the next-token logits (B, V)."""
    state.key_mask = torch.cat([state.key_mask, torch.ones_like(token)[:, None]], dim=1)  # (B, S+1)
    hidden = decoder.forward(token[:, None], torch.ones_like(token)[:, None], state.next_position[:, None],
                             state.key_mask, state.cache)
    state.next_position = state.next_position + 1
    return decoder.logits(hidden[:, 0])


def _shape_logits(logits: torch.Tensor, generated: list[list[int]], step: int, cfg: DecodingConfig,
                  eos: int, banned: list[int]) -> torch.Tensor:
    """Length limits, banned ids, repetition penalty and n-gram blocking, in place on (B, V) logits."""
    logits[:, banned] = -float("inf")
    if step < cfg.min_new_tokens:
        logits[:, eos] = -float("inf")
    if step >= cfg.max_new_tokens:
        logits[:, :] = -float("inf")
        logits[:, eos] = 0.0
    n = cfg.no_repeat_ngram_size
    for row, seq in enumerate(generated):
        if cfg.repetition_penalty != 1.0 and seq:
            ids = torch.tensor(sorted(set(seq)), device=logits.device)
            vals = logits[row, ids]
            logits[row, ids] = torch.where(vals > 0, vals / cfg.repetition_penalty, vals * cfg.repetition_penalty)
        if n and len(seq) >= n - 1:
            prefix = tuple(seq[len(seq) - n + 1 :]) if n > 1 else ()
            for i in range(len(seq) - n + 1):
                if tuple(seq[i : i + n - 1]) == prefix:
                    logits[row, seq[i + n - 1]] = -float("inf")
    if step < cfg.max_new_tokens:
        dead = torch.isinf(logits).all(dim=-1)
        logits[dead, eos] = 0.0  # everything banned: end the reply rather than emit garbage
    return logits


def _filter_top(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -float("inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        sorted_probs = sorted_logits.softmax(-1)
        drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p  # keep the token that crosses top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, -float("inf")))
    return logits


@torch.no_grad()
def generate(decoder: Decoder, source_ids: torch.Tensor, source_attention: torch.Tensor, eos: int,
             cfg: DecodingConfig, banned: list[int] | None = None, seeds: list[int] | None = None
             ) -> list[tuple[list[int], float]]:
    """Replies for a batch of right-padded sources: ``(ids without [SEP], mean log-probability)`` per row.

    Sampling draws each row from its own generator (``seeds``, default ``cfg.seed`` for every row), so a row's
    reply does not depend on which other rows share its batch.
    """
    banned = banned or []
    if cfg.strategy == "beam" and cfg.num_beams > 1:
        return [_beam(decoder, source_ids[i : i + 1], source_attention[i : i + 1], eos, cfg, banned)
                for i in range(len(source_ids))]
    gens = [torch.Generator().manual_seed(s) for s in (seeds or [cfg.seed] * len(source_ids))]
    logits, state = encode_source(decoder, source_ids, source_attention)
    b = len(source_ids)
    generated: list[list[int]] = [[] for _ in range(b)]
    logprob = torch.zeros(b)
    done = torch.zeros(b, dtype=torch.bool)
    for step in range(cfg.max_new_tokens + 1):
        logits = _shape_logits(logits, generated, step, cfg, eos, banned)
        if cfg.strategy == "sample":
            probs = _filter_top(logits / cfg.temperature, cfg.top_k, cfg.top_p).softmax(-1)
            token = torch.cat([torch.multinomial(probs[row], 1, generator=gens[row]) for row in range(b)])
        else:
            token = logits.argmax(-1)
        step_lp = logits.log_softmax(-1).gather(1, token[:, None])[:, 0]
        for row in range(b):
            if not done[row]:
                logprob[row] += step_lp[row]
                if int(token[row]) == eos:
                    done[row] = True
                else:
                    generated[row].append(int(token[row]))
        if bool(done.all()):
            break
        logits = decode_step(decoder, token, state)
    return [(seq, float(lp) / (len(seq) + 1)) for seq, lp in zip(generated, logprob, strict=True)]


def _beam(decoder: Decoder, source_ids: torch.Tensor, source_attention: torch.Tensor, eos: int,
          cfg: DecodingConfig, banned: list[int]) -> tuple[list[int], float]:
    """Beam search for one source: beams share the source cache (rows of one batch)."""
    k = cfg.num_beams
    logits, state = encode_source(decoder, source_ids, source_attention)
    state.select(torch.zeros(k, dtype=torch.long))
    logits = logits.expand(k, -1).clone()
    beams: list[list[int]] = [[] for _ in range(k)]
    scores = torch.zeros(k)
    scores[1:] = -float("inf")  # all beams start identical: expand only the first
    finished: list[tuple[float, list[int], float]] = []
    for step in range(cfg.max_new_tokens + 1):
        logp = _shape_logits(logits, beams, step, cfg, eos, banned).log_softmax(-1)  # (k, V)
        total = (scores[:, None] + logp).view(-1)
        top = torch.topk(total, 2 * k)
        next_beams, next_scores, rows, tokens = [], [], [], []
        for value, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            if value == -float("inf"):
                break
            row, token = divmod(flat, logp.shape[1])
            if token == eos:
                length = len(beams[row]) + 1
                finished.append((value / length ** cfg.length_penalty, beams[row], value / length))
            else:
                next_beams.append([*beams[row], token])
                next_scores.append(value)
                rows.append(row)
                tokens.append(token)
            if len(next_beams) == k:
                break
        if not next_beams or len(finished) >= k:  # k finished hypotheses, as in HF's early stopping
            break
        state.select(torch.tensor(rows))
        beams, scores = next_beams, torch.tensor(next_scores)
        logits = decode_step(decoder, torch.tensor(tokens), state)
    if not finished:
        return beams[0], float(scores[0]) / (len(beams[0]) + 1)
    _, seq, mean_lp = max(finished, key=lambda f: f[0])
    return seq, mean_lp
