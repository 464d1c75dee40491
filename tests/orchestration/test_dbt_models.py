"""orchestration/dbt_models.py: the dbt model names and manifest look-ups, without dagster."""

import subprocess
import sys

from orchestration.settings import REPO_ROOT


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}; import sys; print('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_names_and_look_ups_import_neither_dagster_nor_the_dbt_assets():
    loaded = _modules_after("import orchestration.dbt_models")
    assert "dagster" not in loaded and "dagster_dbt" not in loaded


def test_checks_and_plots_do_not_import_the_dbt_assets():
    loaded = _modules_after("import orchestration.checks, orchestration.plots_metadata")
    assert "orchestration.assets.dbt" not in loaded


def test_read_only_commands_name_the_marts_without_the_manifest():
    from orchestration.cli import looks, status
    from orchestration.dbt_models import FEATURES_MODEL, LEADERBOARD_MODEL, mart_relation

    assert looks.LEADERBOARD == ("marts", LEADERBOARD_MODEL) == mart_relation(LEADERBOARD_MODEL)
    assert looks.FEATURES == ("marts", FEATURES_MODEL)
    assert status.LATEST == ("marts", "fct_forecasts_latest")
