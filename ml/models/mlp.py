"""A global MLP on warecast's tensor path (N-BEATS-style: a window in, every horizon step out).

Each window's encoder values, centred and scaled on that window (RevIN-style; on log1p(value)
with `log_scale`), plus the season position of the first forecast step go through residual
ReLU blocks to p10/p50/p90 for all `horizon` steps at once, as a correction to the window's
seasonal naive forecast (ml/models/neural.py). The head starts at zero, so an untrained network
forecasts exactly seasonal naive. No recurrence or attention: cheap enough on a CPU to train
an ensemble of seeds on windows from the whole history of every series.
"""

from __future__ import annotations

import torch
from torch import nn

from ml.config import ForecastSpec, NeuralConfig
from ml.models.neural import TensorPathForecaster, ordered_quantiles


class MLPNet(nn.Module):
    def __init__(self, n_time: int, config: NeuralConfig, horizon: int):
        super().__init__()
        size, self.horizon = config.hidden_size, horizon
        self.input = nn.Linear(config.encoder_length + n_time, size)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(size),
                nn.Linear(size, size),
                nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Linear(size, size),
            )
            for _ in range(config.layers)
        )
        self.head = nn.Linear(size, horizon * 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, past: torch.Tensor, time_features: torch.Tensor) -> torch.Tensor:
        """past (B, L) normalised values, time_features (B, L + H, F) -> (B, H, 3)."""
        first_step = time_features[:, past.shape[1]]
        x = torch.relu(self.input(torch.cat([past, first_step], dim=-1)))
        for block in self.blocks:
            x = x + block(x)
        return ordered_quantiles(self.head(x).view(len(past), self.horizon, 3))


class MLPForecaster(TensorPathForecaster):
    name = "mlp"
    preset_family = "mlp"

    def build_net(self, spec: ForecastSpec) -> nn.Module:
        return MLPNet(n_time=2, config=self.config, horizon=spec.horizon)
