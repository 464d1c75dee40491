"""AutoARIMA (statsforecast): seasonal ARIMA orders searched per series (stepwise)."""

from __future__ import annotations

from ml.config import ForecastSpec
from ml.models.statistical import StatsForecaster


class AutoARIMAForecaster(StatsForecaster):
    name = "auto_arima"

    def _model(self, spec: ForecastSpec):
        from statsforecast.models import AutoARIMA

        return AutoARIMA(
            season_length=self.seasons(spec)[0], approximation=self.config.approximation
        )
