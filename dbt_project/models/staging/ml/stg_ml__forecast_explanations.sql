{#- Grain: one row per (model_name, model_version, series_id, explained_model, kind, component, horizon_step): what drove a forecast.
    ml.forecast_explanations (written by Dagster), each column cast once to the data_type its source yml
    declares (macros/staging.sql); the marts read this view. -#}

{{ cast_source_columns('ml', 'forecast_explanations') }}
