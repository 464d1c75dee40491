"""Informer (Zhou et al., AAAI 2021, arXiv:2012.07436), written here on the tensor path.

- ProbSparse self-attention in the encoder: only the top-u queries by the sparsity measure
  M(q, K) = max_j(q k_j / sqrt d) - mean_j(q k_j / sqrt d), estimated on u_k sampled keys,
  attend; the others ("lazy") output mean(V). u = c * ceil(ln L) with c = `sampling_factor`;
  when u reaches L every query attends and it equals full attention (tests check this).
- Self-attention distilling between encoder layers: Conv1d -> BatchNorm -> ELU -> MaxPool
  (stride 2) halves the sequence each time.
- Generative-style decoder: its input is the last `label_length` known values (start token)
  followed by zero placeholders for the horizon, with the time features of all those steps;
  one forward pass yields every horizon step.

Two deliberate departures from the reference code, both for causality: the decoder's
self-attention is masked *full* attention, because ProbSparse's top-u query ranking compares
queries across the whole sequence, so a later input could flip whether an earlier query attends;
and the decoder embeds values position-wise (Linear), not with the encoder's circular Conv1d,
which would mix in the next and (wrapping round) the last position. tests/ml/test_informer.py
perturbs future inputs and checks earlier outputs do not move.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ml.config import ForecastSpec, NeuralConfig
from ml.models.neural import TensorPathForecaster, ordered_quantiles


def _sample_size(factor: int, length: int) -> int:
    return max(1, min(length, factor * math.ceil(math.log(max(length, 2)))))


def prob_sparse_attention(q, k, v, factor: int, generator=None) -> torch.Tensor:
    """q (B, H, Lq, D), k/v (B, H, Lk, D) -> (B, H, Lq, D)."""
    length_q, length_k, depth = q.shape[2], k.shape[2], q.shape[3]
    n_keys, n_top = _sample_size(factor, length_k), _sample_size(factor, length_q)
    sample = torch.randint(length_k, (length_q, n_keys), device=q.device, generator=generator)
    sampled_scores = torch.einsum("bhld,bhlsd->bhls", q, k[:, :, sample, :])
    sparsity = sampled_scores.max(dim=-1).values - sampled_scores.sum(dim=-1) / length_k
    top = sparsity.topk(n_top, dim=-1).indices.unsqueeze(-1).expand(-1, -1, -1, depth)
    scores = q.gather(2, top) @ k.transpose(-2, -1) / math.sqrt(depth)
    active = torch.softmax(scores, dim=-1) @ v
    lazy = v.mean(dim=2, keepdim=True).expand_as(q).to(active.dtype)
    return lazy.scatter(2, top, active)


class Attention(nn.Module):
    """Multi-head attention: ProbSparse, or full (optionally causal)."""

    def __init__(self, size: int, heads: int, sparse_factor: int | None = None, causal=False):
        super().__init__()
        self.heads, self.sparse_factor, self.causal = heads, sparse_factor, causal
        self.query, self.key, self.value, self.out = (nn.Linear(size, size) for _ in range(4))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, size = x.shape
        return x.view(batch, length, self.heads, size // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        q, k, v = (
            self._split(self.query(x)),
            self._split(self.key(memory)),
            self._split(self.value(memory)),
        )
        if self.sparse_factor is None:
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            # Eval is deterministic (fixed key sample): a saved model predicts the same twice.
            generator = None
            if not self.training:
                generator = torch.Generator(device=q.device).manual_seed(0)
            attended = prob_sparse_attention(q, k, v, self.sparse_factor, generator)
        batch, _, length, _ = attended.shape
        return self.out(attended.transpose(1, 2).reshape(batch, length, -1))


class _Block(nn.Module):
    """Attention sub-layers (each residual + LayerNorm) then a position-wise feed-forward."""

    def __init__(self, size: int, attentions: list[Attention], dropout: float):
        super().__init__()
        self.attentions = nn.ModuleList(attentions)
        self.norms = nn.ModuleList(nn.LayerNorm(size) for _ in range(len(attentions) + 1))
        self.feed_forward = nn.Sequential(
            nn.Linear(size, 4 * size), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * size, size)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        for i, attention in enumerate(self.attentions):
            source = x if i == 0 else memory
            x = self.norms[i](x + self.dropout(attention(x, source)))
        return self.norms[-1](x + self.dropout(self.feed_forward(x)))


class Distil(nn.Module):
    """Self-attention distilling: halves the length, keeping the dominant features."""

    def __init__(self, size: int):
        super().__init__()
        self.conv = nn.Conv1d(size, size, 3, padding=1, padding_mode="circular")
        self.norm = nn.BatchNorm1d(size)
        self.pool = nn.MaxPool1d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.elu(self.norm(self.conv(x.transpose(1, 2))))).transpose(1, 2)


def positions(length: int, size: int, device) -> torch.Tensor:
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, size, 2, device=device) * (-math.log(10000.0) / size))
    table = torch.zeros(length, size, device=device)
    table[:, 0::2], table[:, 1::2] = torch.sin(position * rate), torch.cos(position * rate)
    return table


class InformerNet(nn.Module):
    def __init__(self, n_time: int, config: NeuralConfig, horizon: int):
        super().__init__()
        size, heads, drop = config.hidden_size, config.heads, config.dropout
        self.label_length, self.horizon = config.label_length, horizon
        self.encoder_value = nn.Conv1d(1, size, 3, padding=1, padding_mode="circular")
        self.encoder_time = nn.Linear(n_time, size)
        self.decoder_value = nn.Linear(1, size)
        self.decoder_time = nn.Linear(n_time, size)
        factor = config.sampling_factor
        self.encoder = nn.ModuleList(
            _Block(size, [Attention(size, heads, sparse_factor=factor)], drop)
            for _ in range(config.layers)
        )
        self.distil = nn.ModuleList(Distil(size) for _ in range(config.layers - 1))
        self.encoder_norm = nn.LayerNorm(size)
        self.decoder = _Block(
            size, [Attention(size, heads, causal=True), Attention(size, heads)], drop
        )
        self.head = nn.Linear(size, 3)

    def encode(self, past: torch.Tensor, time_features: torch.Tensor) -> torch.Tensor:
        x = self.encoder_value(past.unsqueeze(1)).transpose(1, 2) + self.encoder_time(time_features)
        x = x + positions(x.shape[1], x.shape[2], x.device)
        for i, block in enumerate(self.encoder):
            x = block(x)
            if i < len(self.distil):
                x = self.distil[i](x)
        return self.encoder_norm(x)

    def decode(self, values, time_features, memory) -> torch.Tensor:
        """values (B, T), time_features (B, T, F), memory (B, S, d) -> (B, T, 3); causal in T."""
        x = self.decoder_value(values.unsqueeze(-1)) + self.decoder_time(time_features)
        x = x + positions(x.shape[1], x.shape[2], x.device)
        return ordered_quantiles(self.head(self.decoder(x, memory)))

    def forward(self, past: torch.Tensor, time_features: torch.Tensor) -> torch.Tensor:
        """past (B, L) normalised values, time_features (B, L + H, F) -> (B, H, 3)."""
        length = past.shape[1]
        memory = self.encode(past, time_features[:, :length])
        start = length - self.label_length
        placeholders = past.new_zeros(past.shape[0], self.horizon)
        values = torch.cat([past[:, start:], placeholders], dim=1)
        return self.decode(values, time_features[:, start:], memory)[:, -self.horizon :]


class InformerForecaster(TensorPathForecaster):
    name = "informer"
    preset_family = "informer"

    def build_net(self, spec: ForecastSpec) -> nn.Module:
        return InformerNet(n_time=2, config=self.config, horizon=spec.horizon)
