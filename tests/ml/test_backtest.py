"""Rolling-origin backtests, metrics and champion selection, on real models and tiny data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ml.backtest import BacktestConfig, Candidate, cutoff_dates, run_backtest, summarize
from ml.config import ForecastSpec
from ml.errors import InvalidInputError
from ml.models import create_forecaster
from ml.models.base import Forecaster
from ml.selection import select_champion

MONTHLY = ForecastSpec(horizon=4, freq="MS", season_length=2)


def _frame(values: dict[str, list[float]], start="2020-01-01", freq="MS") -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {
                "series_id": sid,
                "ts": pd.date_range(start, periods=len(v), freq=freq),
                "value": np.asarray(v, dtype=float),
            }
        )
        for sid, v in values.items()
    ]
    return pd.concat(parts, ignore_index=True)


def _naive(name="seasonal_naive") -> Candidate:
    return Candidate(name, "tiny", lambda: create_forecaster("seasonal_naive", "tiny"))


class Recording(Forecaster):
    """A real model, wrapped to record the newest timestamp each call was given."""

    name = "recording"

    def __init__(self, inner: Forecaster, seen: list):
        self.inner, self.seen = inner, seen

    def fit(self, frame, spec, validate=True):
        self.seen.append(("fit", frame["ts"].max()))
        return self.inner.fit(frame, spec, validate)

    def predict(self, frame):
        self.seen.append(("predict", frame["ts"].max()))
        return self.inner.predict(frame)

    def save(self, directory):
        self.inner.save(directory)

    @classmethod
    def load(cls, directory):
        raise NotImplementedError


def test_cutoffs_step_back_from_the_newest_full_horizon():
    config = BacktestConfig(cutoffs=3, step=2)
    got = cutoff_dates(pd.Timestamp("2020-12-01"), MONTHLY, config)
    assert got == [pd.Timestamp(d) for d in ("2020-04-01", "2020-06-01", "2020-08-01")]
    # Without a step the origins are one horizon apart.
    got = cutoff_dates(pd.Timestamp("2020-12-01"), MONTHLY, BacktestConfig(cutoffs=2))
    assert got == [pd.Timestamp("2020-04-01"), pd.Timestamp("2020-08-01")]


def test_every_model_is_scored_on_the_same_cutoffs_with_actuals_beside():
    frame = _frame({"a": list(range(1, 21)), "b": [5, 1] * 10})
    result = run_backtest(
        frame,
        MONTHLY,
        [_naive(), Candidate("auto_ets", "tiny", lambda: create_forecaster("auto_ets", "tiny"))],
        BacktestConfig(cutoffs=3, step=2),
    )
    points = result.points
    assert set(points["model"]) == {"seasonal_naive", "auto_ets"}
    per_model = points.groupby("model")["cutoff"].apply(lambda c: sorted(set(c)))
    assert per_model["seasonal_naive"] == per_model["auto_ets"] == result.cutoffs
    # 2 models x 3 cutoffs x 2 series x 4 steps, each with the observed value as its actual.
    assert len(points) == 2 * 3 * 2 * 4
    merged = points.merge(frame, left_on=["series_id", "target_ts"], right_on=["series_id", "ts"])
    assert len(merged) == len(points)
    assert (merged["actual"] == merged["value"]).all()
    assert (points["target_ts"] > points["cutoff"]).all()
    offset = pd.DateOffset(months=4)
    assert (points["target_ts"] <= points["cutoff"] + offset).all()
    assert list(result.summary["model"]) == ["auto_ets", "seasonal_naive"]
    assert (result.summary["share_fallback"] == 0).all()


def test_the_model_never_sees_data_after_its_cutoff():
    frame = _frame({"a": list(np.sin(np.arange(30)) + 10), "b": list(np.arange(30) % 3 + 1.0)})
    config = BacktestConfig(cutoffs=3, step=3)
    seen: list = []

    def build():
        return Recording(create_forecaster("seasonal_naive", "tiny"), seen)

    result = run_backtest(frame, MONTHLY, [Candidate("recording", "tiny", build)], config)
    fits = [ts for kind, ts in seen if kind == "fit"]
    predicts = [ts for kind, ts in seen if kind == "predict"]
    assert fits == predicts == result.cutoffs

    # Rewriting everything after the first cutoff leaves that cutoff's forecasts unchanged.
    first = result.cutoffs[0]
    poisoned = frame.copy()
    poisoned.loc[poisoned["ts"] > first, "value"] *= 1000
    again = run_backtest(poisoned, MONTHLY, [_naive()], config)
    before = result.points[result.points["cutoff"] == first].reset_index(drop=True)
    after = again.points[again.points["cutoff"] == first].reset_index(drop=True)
    pd.testing.assert_frame_equal(before[["p10", "p50", "p90"]], after[["p10", "p50", "p90"]])


def test_mase_scale_is_the_history_before_each_cutoff():
    # A straight line, season 2: every seasonal difference is 2, so the scale is 2. Seasonal
    # naive repeats the last two values: errors 2, 2, 4, 4 over four steps -> MAE 3, MASE 1.5.
    frame = _frame({"line": list(range(1, 15))})
    result = run_backtest(frame, MONTHLY, [_naive()], BacktestConfig(cutoffs=2, step=3))
    assert (result.points["scale"] == 2.0).all()
    row = result.summary.iloc[0]
    assert row["mae"] == pytest.approx(3.0)
    assert row["mase"] == pytest.approx(1.5)
    assert row["rmse"] == pytest.approx(math.sqrt((4 + 4 + 16 + 16) / 4))


def test_metrics_against_numbers_worked_by_hand():
    points = pd.DataFrame(
        {
            "model": "m",
            "preset": "p",
            "cutoff": pd.Timestamp("2024-01-01"),
            "series_id": ["a", "a", "b"],
            "horizon_step": [1, 2, 1],
            "actual": [10.0, 20.0, 5.0],
            "p10": [8.0, 21.0, 1.0],
            "p50": [12.0, 25.0, 5.0],
            "p90": [13.0, 30.0, 9.0],
            "scale": [2.0, 2.0, 0.0],
            "method": ["m", "m", "seasonal_naive_fallback"],
        }
    )
    row = summarize(points).iloc[0]
    assert row["share_fallback"] == pytest.approx(1 / 3)
    assert row["mae"] == pytest.approx((2 + 5 + 0) / 3)
    assert row["rmse"] == pytest.approx(math.sqrt((4 + 25 + 0) / 3))
    assert row["mape"] == pytest.approx((20 + 25 + 0) / 3)
    assert row["smape"] == pytest.approx((200 * 2 / 22 + 200 * 5 / 45 + 0) / 3)
    assert row["mase"] == pytest.approx((1.0 + 2.5) / 2)  # scale 0: undefined, left out
    # pinball(q) = max(q * (a - f), (q - 1) * (a - f))
    assert row["pinball_p10"] == pytest.approx((0.2 + 0.9 * 1 + 0.4) / 3)
    assert row["pinball_p50"] == pytest.approx((1.0 + 2.5 + 0) / 3)
    assert row["pinball_p90"] == pytest.approx((0.1 * 3 + 0.1 * 10 + 0.1 * 4) / 3)
    assert row["coverage_80"] == pytest.approx(2 / 3)
    assert row["n_points"] == 3 and row["n_series"] == 2


def test_mape_is_null_not_partial_when_an_actual_is_zero():
    points = pd.DataFrame(
        {
            "model": "m",
            "preset": "p",
            "cutoff": pd.Timestamp("2024-01-01"),
            "series_id": "a",
            "horizon_step": [1, 2],
            "actual": [0.0, 4.0],
            "p10": [0.0, 1.0],
            "p50": [0.0, 2.0],
            "p90": [1.0, 5.0],
            "scale": [1.0, 1.0],
            "method": "m",
        }
    )
    row = summarize(points).iloc[0]
    assert math.isnan(row["mape"]) and row["n_zero_actuals"] == 1
    assert row["smape"] == pytest.approx((0 + 200 * 2 / 6) / 2)


def test_series_not_observed_at_a_cutoff_are_skipped_and_reported():
    frame = _frame({"long": list(range(1, 21)), "late": list(range(1, 7))}).copy()
    late = frame["series_id"] == "late"
    frame.loc[late, "ts"] = pd.date_range("2021-03-01", periods=6, freq="MS")
    result = run_backtest(frame, MONTHLY, [_naive()], BacktestConfig(cutoffs=1))
    assert set(result.points["series_id"]) == {"long"}
    assert result.skipped_series == {result.cutoffs[0]: ["late"]}


def test_cutoffs_without_history_are_dropped_and_none_left_is_a_clear_error():
    frame = _frame({"a": list(range(1, 13))})
    # Cutoffs 8, 5, 2 and -1 periods in: the two oldest have under MIN_HISTORY periods.
    result = run_backtest(frame, MONTHLY, [_naive()], BacktestConfig(cutoffs=4, step=3))
    assert len(result.dropped_cutoffs) == 2 and len(result.cutoffs) == 2
    assert set(result.points["cutoff"]) == set(result.cutoffs)
    with pytest.raises(InvalidInputError, match=r"backtest\.cutoffs"):
        run_backtest(frame.head(4), MONTHLY, [_naive()], BacktestConfig(cutoffs=2, step=3))


def test_models_listed_twice_and_unknown_metrics_are_refused():
    frame = _frame({"a": list(range(1, 21))})
    with pytest.raises(InvalidInputError, match="listed twice"):
        run_backtest(frame, MONTHLY, [_naive(), _naive()], BacktestConfig())
    with pytest.raises(ValidationError, match="Unknown backtest metric"):
        BacktestConfig(metric="accuracy")


def _summary(**metric) -> pd.DataFrame:
    rows = [{"model": m, "n_cutoffs": 2, "n_series": 3, "n_points": 24} for m in metric["model"]]
    frame = pd.DataFrame(rows)
    for name, values in metric.items():
        frame[name] = values
    return frame


def test_champion_has_the_lowest_error_and_a_reason_in_words():
    summary = _summary(model=["tft", "auto_ets", "seasonal_naive"], mase=[1.12, 0.91, 1.05])
    selection = select_champion(summary, "mase")
    assert selection.champion == "auto_ets" and selection.value == pytest.approx(0.91)
    assert selection.reason.startswith(
        "auto_ets won on mase 0.910 vs seasonal_naive 1.050, tft 1.120"
    )
    board = selection.leaderboard
    assert list(board["model"]) == ["auto_ets", "seasonal_naive", "tft"]
    assert list(board["rank"]) == [1, 2, 3] and list(board["is_champion"]) == [True, False, False]


def test_coverage_is_judged_by_closeness_to_eighty_percent():
    summary = _summary(model=["wide", "narrow", "right"], coverage_80=[0.99, 0.5, 0.77])
    selection = select_champion(summary, "coverage_80")
    assert selection.champion == "right"
    assert "closest to 0.8" in selection.reason


def test_undefined_metric_ranks_last_and_cannot_win():
    summary = _summary(model=["a", "b"], mape=[float("nan"), 12.0])
    assert select_champion(summary, "mape").champion == "b"
    with pytest.raises(ValueError, match="undefined for every model"):
        select_champion(_summary(model=["a"], mape=[float("nan")]), "mape")
