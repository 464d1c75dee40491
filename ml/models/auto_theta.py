"""AutoTheta (statsforecast): the Theta method (M3's winner), the variant chosen per series.

Tries the standard, optimised and dynamic Theta models on a multiplicatively deseasonalised
series and keeps the best by in-sample MSE; fast enough to refit at every backtest cutoff.
"""

from __future__ import annotations

from ml.config import ForecastSpec
from ml.models.statistical import StatsForecaster


class AutoThetaForecaster(StatsForecaster):
    name = "auto_theta"

    def _model(self, spec: ForecastSpec):
        from statsforecast.models import AutoTheta

        return AutoTheta(season_length=self.seasons(spec)[0])
