"""Presets are data: every family has small/medium/large, every use case builds its candidates,
and a wrong name or field is refused with a message naming it."""

from __future__ import annotations

import pytest

from ml.config import family_preset
from ml.models import MODELS, create_forecaster, registry
from ml.use_cases import load_use_case, use_case_names


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_tiny_small_medium_large(name):
    family = registry()[name].preset_family
    for preset in ("tiny", "small", "medium", "large"):
        family_preset(family, preset)
        assert create_forecaster(name, preset).name == name


def test_use_cases_build_their_candidates():
    assert set(use_case_names()) >= {
        "energy_hourly",
        "retail_monthly",
        "traffic_15min",
        "server_metrics_5min",
    }
    for name in use_case_names():
        case = load_use_case(name)
        candidates = case.candidates()
        assert "seasonal_naive" in candidates and case.spec.horizon > 0
    energy = load_use_case("energy_hourly").candidates()
    assert energy["mstl"].config.season_lengths == [24, 168]


def test_bad_names_are_refused_clearly():
    with pytest.raises(ValueError, match="Unknown model 'prophet'"):
        create_forecaster("prophet")
    with pytest.raises(ValueError, match="Unknown lstm preset 'huge'"):
        create_forecaster("lstm", "huge")
    with pytest.raises(ValueError, match="hidden_size"):
        create_forecaster("informer", "tiny", hidden_size=7, heads=2)
    with pytest.raises(ValueError, match="Unknown use case"):
        load_use_case("weather")
