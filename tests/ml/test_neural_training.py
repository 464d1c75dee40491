"""The tensor path's training options (ml/models/neural.py): seeded runs repeat exactly with
early stopping and an ensemble, log1p is used only on non-negative data, and the held-out
validation split never lets fit() see the report's held-out horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.config import ForecastSpec
from ml.errors import InvalidInputError
from ml.models import create_forecaster
from tests.ml.helpers import retail

SPEC = ForecastSpec(horizon=6, freq="MS", season_length=12)
QUANTILES = ["p10", "p50", "p90"]


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return retail(4, 96)


def test_seeded_fit_repeats_exactly_with_early_stopping_and_ensemble(history):
    forecasts = []
    for _ in range(2):
        model = create_forecaster("mlp", "tiny", early_stopping_patience=1, ensemble=2)
        model.fit(history, SPEC, validate=False)
        forecasts.append(model.predict(history)[QUANTILES].to_numpy())
    np.testing.assert_array_equal(forecasts[0], forecasts[1])
    assert len(model.net.nets) == 2


def test_log_scale_only_on_non_negative_data(history):
    model = create_forecaster("mlp", "tiny")
    model.fit(history, SPEC, validate=False)
    assert model.log_values
    assert (model.predict(history)["p10"] > 0).all()  # expm1 of the log-scale quantiles
    shifted = history.assign(value=history["value"] - history["value"].mean())
    model = create_forecaster("mlp", "tiny")
    model.fit(shifted, SPEC, validate=False)
    assert not model.log_values  # negative values: modelled on the raw scale
    with pytest.raises(InvalidInputError, match="negative"):
        trained = create_forecaster("mlp", "tiny")
        trained.fit(history, SPEC, validate=False)
        trained.predict(shifted)


def test_validation_report_never_trains_on_its_holdout(history):
    """fit(validate=True) with early stopping: changing the held-out horizon's values changes
    neither the model nor its forecast from the history before it."""
    changed = history.copy()
    last = changed.groupby("series_id").cumcount(ascending=False) < SPEC.horizon
    changed.loc[last, "value"] *= 3.0
    outputs = []
    for frame in (history, changed):
        model = create_forecaster("lstm", "tiny", early_stopping_patience=1, log_scale=True)
        report = model.fit(frame, SPEC)
        outputs.append(report.validation_forecasts[QUANTILES].to_numpy())
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-6)
