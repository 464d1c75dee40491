"""Run-config fragments the whole-graph tests share: small, deterministic, fast."""

# The backtest runs for real on one cutoff; its only candidate, the tiny TFT, becomes the
# champion, so a test knows which family serves the forecasts (method = "tft").
TINY_BACKTEST = {"config": {"models": ["tft:tiny"], "cutoffs": 1}}
TINY_TRAINING = {"config": {"model_preset": "tiny", "progress_bar": False}}

# A real comparison: the champion is whichever wins on the cutoff, and the test reads it back.
COMPARED_FAMILIES = ["seasonal_naive", "auto_ets", "auto_theta", "lightgbm", "tft"]
COMPARED_BACKTEST = {"config": {"models": [f"{m}:tiny" for m in COMPARED_FAMILIES], "cutoffs": 1}}
# The ensemble alone, so it is the champion: trained, registered and serving the forecasts.
ENSEMBLE_BACKTEST = {"config": {"models": ["ensemble:tiny"], "cutoffs": 1}}
