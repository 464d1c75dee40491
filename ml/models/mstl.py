"""MSTL (statsforecast): STL with several seasonal periods (hourly: 24 and 168), AutoETS trend.

Meant for grains with more than one season: set `season_lengths` (presets in ml/presets/
use_cases.yaml do). With one season it is STL plus a non-seasonal AutoETS trend.
"""

from __future__ import annotations

from ml.config import ForecastSpec
from ml.explain import mstl_explanations
from ml.models.statistical import StatsForecaster


class MSTLForecaster(StatsForecaster):
    name = "mstl"
    explainer = mstl_explanations

    def _model(self, spec: ForecastSpec):
        from statsforecast.models import MSTL, AutoETS

        return MSTL(season_length=self.seasons(spec), trend_forecaster=AutoETS(model="ZZN"))
