"""AutoETS (statsforecast): exponential smoothing, the model form chosen per series by AICc."""

from __future__ import annotations

from ml.config import ForecastSpec
from ml.explain import ets_explanations
from ml.models.statistical import StatsForecaster


class AutoETSForecaster(StatsForecaster):
    name = "auto_ets"
    explainer = ets_explanations

    def _model(self, spec: ForecastSpec):
        from statsforecast.models import AutoETS

        return AutoETS(season_length=self.seasons(spec)[0])
