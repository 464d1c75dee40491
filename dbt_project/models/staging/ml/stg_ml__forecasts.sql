{#- Grain: one row per (series_id, model_name, forecast_origin, horizon_step): every published forecast.
    ml.forecasts (written by Dagster), each column cast once to the data_type its source yml
    declares (macros/staging.sql); the marts read this view. -#}

{{ cast_source_columns('ml', 'forecasts') }}
