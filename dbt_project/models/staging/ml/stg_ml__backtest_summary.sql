{#- Grain: one row per (backtest_run_id, model): a model's metrics over one backtest run.
    ml.backtest_summary (written by Dagster), each column cast once to the data_type its source yml
    declares (macros/staging.sql); the marts read this view. -#}

{{ cast_source_columns('ml', 'backtest_summary') }}
