{#- Grain: one row per (series_id, model_name, horizon_step): each series' newest forecast. -#}

with forecasts as (

    select * from {{ ref('stg_ml__forecasts') }}

),

latest_origin as (

    select
        series_id,
        model_name,
        max(forecast_origin) as forecast_origin
    from forecasts
    group by series_id, model_name

)

select
    forecasts.series_id,
    forecasts.forecast_origin,
    forecasts.target_ts,
    forecasts.horizon_step,
    forecasts.p10,
    forecasts.p50,
    forecasts.p90,
    forecasts.method,
    forecasts.model_name,
    forecasts.model_version,
    forecasts.mlflow_run_id,
    forecasts.created_at,
    forecasts.dagster_run_id,
    forecasts.feature_data_version
from forecasts
inner join latest_origin
    on
        forecasts.series_id = latest_origin.series_id
        and forecasts.model_name = latest_origin.model_name
        and forecasts.forecast_origin = latest_origin.forecast_origin
