"""N-HiTS (pytorch-forecasting): hierarchical interpolation of multi-rate MLP blocks, trained
with the quantile loss on p10/p50/p90.

Runs on pytorch-forecasting's TimeSeriesDataSet (its network consumes that library's batch
dictionaries and fitted normalizers). N-HiTS needs a fixed encoder length, so
min_encoder_length is set to max_encoder_length and no relative time index is added: series
shorter than that get the labelled seasonal-naive fallback.
"""

from __future__ import annotations

from ml.config import TFTArchitecture, TrainingConfig
from ml.models.tft import TFTForecaster


class NHiTSForecaster(TFTForecaster):
    name = "nhits"
    preset_family = "nhits"
    supports_covariates = True

    def __init__(
        self, architecture: TFTArchitecture, training: TrainingConfig, progress_bar: bool = True
    ):
        fixed = architecture.model_copy(
            update={"min_encoder_length": architecture.max_encoder_length}
        )
        super().__init__(fixed, training, progress_bar=progress_bar)

    def _dataset_overrides(self) -> dict:
        return dict(add_relative_time_idx=False)

    @classmethod
    def _network_class(cls):
        from pytorch_forecasting import NHiTS

        return NHiTS

    def _network_kwargs(self) -> dict:
        arch = self.architecture
        return dict(hidden_size=arch.hidden_size, dropout=arch.dropout)
