{#- Grain: one row per (backtest_run_id, model, cutoff, series_id, horizon_step): a backtest forecast beside its actual.
    ml.backtest_points (written by Dagster), each column cast once to the data_type its source yml
    declares (macros/staging.sql); the marts read this view. -#}

{{ cast_source_columns('ml', 'backtest_points') }}
