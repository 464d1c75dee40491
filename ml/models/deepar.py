"""DeepAR (pytorch-forecasting): an autoregressive RNN with a Gaussian output, p10/p50/p90
from samples of that distribution (seeded, so a saved model predicts the same twice).

Runs on pytorch-forecasting's TimeSeriesDataSet: DeepAR's network takes that library's batch
dictionaries and its distribution loss rescales with the dataset's fitted target normalizer,
so it cannot be fed from warecast's tensor path without re-implementing it. Training and data
handling are the TFT's (ml/models/tft.py); only the network and loss differ.
"""

from __future__ import annotations

from ml.config import QUANTILES
from ml.models.tft import TFTForecaster


class DeepARForecaster(TFTForecaster):
    name = "deepar"
    preset_family = "deepar"
    supports_covariates = True

    @classmethod
    def _network_class(cls):
        from pytorch_forecasting import DeepAR

        return DeepAR

    @classmethod
    def _loss(cls):
        from pytorch_forecasting.metrics import NormalDistributionLoss

        return NormalDistributionLoss(quantiles=list(QUANTILES))

    def _network_kwargs(self) -> dict:
        arch = self.architecture
        return dict(hidden_size=arch.hidden_size, rnn_layers=2, dropout=arch.dropout)
