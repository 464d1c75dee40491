"""`promote` moves @champion and appends to the history; bad rollbacks fail clearly.

Real MLflow (SQLite store) and a real DuckDB file; versions are registered without training.
(The whole rollback with forecast rewrite runs in tests/e2e/test_lineage.py.)
"""

from __future__ import annotations

import pytest


@pytest.fixture
def registry(warecast_home, tmp_path):
    from mlflow import MlflowClient

    from orchestration.definitions import build_definitions

    defs = build_definitions("duckdb")
    tracking = defs.resources["mlflow_tracking"]
    tracking._activate()
    client = MlflowClient()
    client.create_registered_model("m")
    for _ in range(2):
        mv = client.create_model_version("m", source=str(tmp_path), run_id=None)
        client.set_model_version_tag("m", mv.version, "feature_data_version", f"dv{mv.version}")
    return defs, tracking, client


def test_promote_and_roll_back_record_history(registry):
    from orchestration.cli import rollback
    from orchestration.lineage import ModelVersionHistory

    defs, tracking, client = registry
    history = ModelVersionHistory(defs.resources["warehouse"].client(), "ml")
    tracking.promote("m", "2", "newest version", history)
    assert str(client.get_model_version_by_alias("m", "champion").version) == "2"
    tracking.promote("m", "1", "v2 is off", history, event="rolled_back")
    assert str(client.get_model_version_by_alias("m", "champion").version) == "1"

    rows = history.read().to_pandas().sort_values("event_at")
    assert list(rows["model_version"]) == ["2", "1"]
    assert list(rows["event"]) == ["promoted", "rolled_back"]
    assert list(rows["feature_data_version"]) == ["dv2", "dv1"]

    with pytest.raises(SystemExit, match="publishes model 'warecast_forecaster', not 'm'"):
        rollback(defs, None, "m", "1")


def test_unknown_version_names_the_known_ones(registry):
    from orchestration.lineage import ModelVersionHistory

    defs, tracking, _ = registry
    history = ModelVersionHistory(defs.resources["warehouse"].client(), "ml")
    with pytest.raises(ValueError, match=r"no version '7'.*known versions: \[1, 2\]"):
        tracking.promote("m", "7", "typo", history)
    assert not defs.resources["warehouse"].client().table_exists("ml", "model_version_history")
