"""The forecast tables' accepted `method` values are exactly what the models can write."""

from __future__ import annotations

import yaml

from ml.models import MODELS
from ml.models.fallback import METHOD as FALLBACK_METHOD
from orchestration.settings import REPO_ROOT

FORECASTS = REPO_ROOT / "dbt_project" / "models" / "marts" / "forecasts"


def _accepted_methods(columns: list[dict]) -> set[str] | None:
    (method,) = [c for c in columns if c["name"] == "method"]
    tests = [t for t in method.get("data_tests", []) if "accepted_values" in t]
    return set(tests[0]["accepted_values"]["arguments"]["values"]) if tests else None


def test_method_accepted_values_match_the_model_registry():
    expected = set(MODELS) | {FALLBACK_METHOD}
    sources = yaml.safe_load((FORECASTS / "_ml__sources.yml").read_text())
    (forecasts,) = [t for s in sources["sources"] for t in s["tables"] if t["name"] == "forecasts"]
    assert _accepted_methods(forecasts["columns"]) == expected
    models = yaml.safe_load((FORECASTS / "_forecasts__models.yml").read_text())["models"]
    tested = {
        model["name"]: _accepted_methods(model["columns"])
        for model in models
        if any(c["name"] == "method" for c in model["columns"])
    }
    tested = {name: values for name, values in tested.items() if values is not None}
    assert tested, "no forecast mart tests its method column"
    assert all(values == expected for values in tested.values()), tested
