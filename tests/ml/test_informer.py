"""Informer: ProbSparse attention is full attention when its sample covers every query, the
distilling halves the encoder, and the generative decoder cannot see the future."""

from __future__ import annotations

import math

import pytest
import torch

from ml.config import NeuralConfig
from ml.models.informer import InformerNet, prob_sparse_attention


def _full_attention(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v


@pytest.fixture
def qkv():
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(2, 3, 20, 8, generator=generator) for _ in range(3)]


def test_prob_sparse_equals_full_attention_when_the_sample_covers_every_query(qkv):
    q, k, v = qkv
    # u = c * ceil(ln 20) = 3c >= 20 queries for c = 7: every query attends.
    sparse = prob_sparse_attention(q, k, v, factor=7)
    torch.testing.assert_close(sparse, _full_attention(q, k, v), rtol=1e-5, atol=1e-6)


def test_prob_sparse_with_a_small_factor_leaves_lazy_queries_at_the_mean(qkv):
    q, k, v = qkv
    sparse = prob_sparse_attention(q, k, v, factor=1)  # u = 3 of 20 queries attend
    full = _full_attention(q, k, v)
    exact = torch.isclose(sparse, full, atol=1e-6).all(dim=-1)
    assert exact.sum(dim=-1).eq(3).all()  # exactly the top-u queries are exact
    lazy = sparse[~exact.unsqueeze(-1).expand_as(sparse)].view(-1, 8)
    assert torch.allclose(lazy, v.mean(dim=2, keepdim=True).expand_as(v)[~exact].view(-1, 8))


def _net(horizon=6, **overrides):
    torch.manual_seed(0)
    config = NeuralConfig(
        encoder_length=16, hidden_size=8, heads=2, layers=3, label_length=4, **overrides
    )
    return InformerNet(n_time=2, config=config, horizon=horizon).eval(), config


def test_distilling_halves_the_encoder_each_layer():
    net, _ = _net()
    memory = net.encode(torch.randn(2, 16), torch.randn(2, 16, 2))
    assert memory.shape == (2, 4, 8)  # 16 -> 8 -> 4 over three layers


def test_decoder_cannot_see_the_future():
    net, config = _net()
    horizon, length = 6, config.encoder_length
    past, time_features = torch.randn(3, length), torch.randn(3, length + horizon, 2)
    with torch.no_grad():
        before = net(past, time_features)
        for step in range(1, horizon):
            perturbed = time_features.clone()
            perturbed[:, length + step :] += torch.randn_like(perturbed[:, length + step :]) * 5
            after = net(past, perturbed)
            torch.testing.assert_close(after[:, :step], before[:, :step])
            assert not torch.allclose(after[:, step:], before[:, step:])  # the perturbation bites


def test_decoder_positions_are_causal_in_values_too():
    net, _ = _net()
    memory = net.encode(torch.randn(2, 16), torch.randn(2, 16, 2))
    values, time_features = torch.randn(2, 10), torch.randn(2, 10, 2)
    with torch.no_grad():
        before = net.decode(values, time_features, memory)
        changed = values.clone()
        changed[:, 7:] = 100.0
        after = net.decode(changed, time_features, memory)
    torch.testing.assert_close(after[:, :7], before[:, :7])
    assert not torch.allclose(after[:, 7:], before[:, 7:])
