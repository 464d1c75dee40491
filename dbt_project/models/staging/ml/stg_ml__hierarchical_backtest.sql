{#- Grain: one row per (backtest_run_id, level, method): a hierarchy level's backtest accuracy.
    ml.hierarchical_backtest (written by Dagster), each column cast once to the data_type its source yml
    declares (macros/staging.sql); the marts read this view. -#}

{{ cast_source_columns('ml', 'hierarchical_backtest') }}
