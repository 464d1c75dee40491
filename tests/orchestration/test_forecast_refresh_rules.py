"""The Day-N rules on their own: which series changed, batch groups, merged check outcomes."""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration.batched_reads import BATCH_ROWS_ENV, batch_rows, group_series
from orchestration.checks import CheckOutcome
from orchestration.forecast_refresh import (
    changed_series,
    merge_outcomes,
    state_table,
    with_hashes,
)

TS = pd.Timestamp("2025-01-01")


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": ["a", "b", "c", "d"],
            "n_rows": [10, 10, 10, 10],
            "last_ts": [TS] * 4,
            "value_sum": [100.0, 200.0, 300.0, 400.0],
        }
    )


def _state(summary: pd.DataFrame, version: str = "3") -> pd.DataFrame:
    ids = {"dagster_run_id": "run", "created_at": TS}
    table = state_table(summary, set(summary["series_id"]), "m", version, ids)
    return table.to_pandas()


def test_nothing_changed_means_nothing_to_refresh():
    summary = with_hashes(_summary(), pd.Series({"a": "h1", "b": "h2", "c": "h3", "d": "h4"}))
    assert changed_series(summary, _state(summary), "3") == set()


def test_each_kind_of_change_is_seen():
    before = with_hashes(_summary(), pd.Series({"a": "h1", "b": "h2", "c": "h3", "d": "h4"}))
    state = _state(before)
    after = before.copy()
    after.loc[0, "last_ts"] = TS + pd.Timedelta(hours=1)  # a: a new period
    after.loc[1, "value_sum"] = 200.5  # b: a late correction
    after.loc[2, "content_hash"] = "other"  # c: a change the sums would not show
    after = pd.concat([after, after.tail(1).assign(series_id="e")])  # e: a new series
    assert changed_series(after, state, "3") == {"a", "b", "c", "e"}
    # A new champion version refreshes every series; sums equal to 1e-9 are the same.
    assert changed_series(before, state, "4") == {"a", "b", "c", "d"}
    noisy = before.assign(value_sum=before["value_sum"] * (1 + 1e-13))
    assert changed_series(noisy, state, "3") == set()


def test_without_block_hashes_the_summary_rule_alone_decides():
    summary = _summary()
    state = _state(with_hashes(summary, None))
    assert changed_series(summary, state, "3") == set()
    assert changed_series(summary.assign(n_rows=11), state, "3") == {"a", "b", "c", "d"}
    first_time = state.iloc[0:0]
    assert changed_series(summary, first_time, "3") == {"a", "b", "c", "d"}


def test_series_are_grouped_up_to_the_batch_rows(monkeypatch):
    summary = pd.DataFrame({"series_id": list("abcde"), "n_rows": [4, 4, 9, 1, 1]})
    assert group_series(summary, 8) == [["a", "b"], ["c"], ["d", "e"]]
    monkeypatch.setenv(BATCH_ROWS_ENV, "0")
    with pytest.raises(ValueError, match=BATCH_ROWS_ENV):
        batch_rows()


def test_checks_merge_over_batches():
    ok = CheckOutcome("every_series_forecast", True, "text", "ok")
    bad = CheckOutcome("every_series_forecast", False, "text", "1 series without a forecast")
    (merged,) = merge_outcomes([[ok], [bad], [ok]])
    assert not merged.passed and merged.detail == "1 series without a forecast"
    assert merge_outcomes([[ok], [ok]])[0].passed
