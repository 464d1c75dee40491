{#- Grain: one row per (series_id, model_name, horizon_step): each series' newest forecast. -#}

with forecasts as (

    select * from {{ source('ml', 'forecasts') }}

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
    cast(forecasts.series_id as varchar) as series_id,
    cast(forecasts.forecast_origin as timestamp) as forecast_origin,
    cast(forecasts.target_ts as timestamp) as target_ts,
    cast(forecasts.horizon_step as integer) as horizon_step,
    cast(forecasts.p10 as {{ type_double() }}) as p10,
    cast(forecasts.p50 as {{ type_double() }}) as p50,
    cast(forecasts.p90 as {{ type_double() }}) as p90,
    cast(forecasts.method as varchar) as method,
    cast(forecasts.model_name as varchar) as model_name,
    cast(forecasts.model_version as varchar) as model_version,
    cast(forecasts.mlflow_run_id as varchar) as mlflow_run_id,
    cast(forecasts.created_at as timestamp) as created_at,
    cast(forecasts.dagster_run_id as varchar) as dagster_run_id,
    cast(forecasts.feature_data_version as varchar) as feature_data_version
from forecasts
inner join latest_origin
    on
        forecasts.series_id = latest_origin.series_id
        and forecasts.model_name = latest_origin.model_name
        and forecasts.forecast_origin = latest_origin.forecast_origin
