"""Seasonal naive (statsforecast): the last season repeated; the yardstick MASE scales by."""

from __future__ import annotations

from ml.config import ForecastSpec
from ml.models.statistical import StatsForecaster


class SeasonalNaiveForecaster(StatsForecaster):
    name = "seasonal_naive"

    def _model(self, spec: ForecastSpec):
        from statsforecast.models import SeasonalNaive

        return SeasonalNaive(season_length=self.seasons(spec)[0])

    def min_length(self, spec: ForecastSpec) -> int:
        return self.seasons(spec)[0] + 1
