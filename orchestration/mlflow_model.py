"""MLflow "model from code": the pyfunc wrapper around a saved warecast forecaster.

MLflow stores this file instead of a pickled object; the weights are safetensors + JSON artifacts.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class WarecastForecaster(PythonModel):
    def load_context(self, context):
        from ml.models import load_forecaster

        self.forecaster = load_forecaster(context.artifacts["forecaster"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """model_input: history frame (series_id, ts, value, ...); returns the forecast frame."""
        return self.forecaster.predict(model_input)


mlflow.models.set_model(WarecastForecaster())
