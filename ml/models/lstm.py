"""LSTM encoder-decoder on warecast's tensor path: p10/p50/p90 for every horizon step.

The encoder reads the past (value + season position); its final state starts a decoder that
reads only the known future inputs (season position), so it predicts all steps at once.
"""

from __future__ import annotations

import torch
from torch import nn

from ml.config import ForecastSpec, NeuralConfig
from ml.models.neural import TensorPathForecaster, ordered_quantiles


class LSTMNet(nn.Module):
    def __init__(self, n_time: int, config: NeuralConfig):
        super().__init__()
        dropout = config.dropout if config.layers > 1 else 0.0
        size, layers = config.hidden_size, config.layers
        self.encoder = nn.LSTM(1 + n_time, size, layers, batch_first=True, dropout=dropout)
        self.decoder = nn.LSTM(n_time, size, layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(size, 3)

    def forward(self, past: torch.Tensor, time_features: torch.Tensor) -> torch.Tensor:
        """past (B, L) normalised values, time_features (B, L + H, F) -> (B, H, 3)."""
        length = past.shape[1]
        encoder_input = torch.cat([past.unsqueeze(-1), time_features[:, :length]], dim=-1)
        _, state = self.encoder(encoder_input)
        decoded, _ = self.decoder(time_features[:, length:], state)
        return ordered_quantiles(self.head(decoded))


class LSTMForecaster(TensorPathForecaster):
    name = "lstm"
    preset_family = "lstm"

    def build_net(self, spec: ForecastSpec) -> nn.Module:
        return LSTMNet(n_time=2, config=self.config)
