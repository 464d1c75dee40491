{#- Grain: one row per (series_id, model_name, forecast_origin, horizon_step): every published forecast.
    ml.forecasts (written by Dagster) cast once to its types; the marts read this view. -#}

with source as (

    select * from {{ source('ml', 'forecasts') }}

)

select
    cast(series_id as varchar) as series_id,
    cast(forecast_origin as timestamp) as forecast_origin,
    cast(target_ts as timestamp) as target_ts,
    cast(horizon_step as integer) as horizon_step,
    cast(p10 as {{ type_double() }}) as p10,
    cast(p50 as {{ type_double() }}) as p50,
    cast(p90 as {{ type_double() }}) as p90,
    cast(method as varchar) as method,
    cast(model_name as varchar) as model_name,
    cast(model_version as varchar) as model_version,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(created_at as timestamp) as created_at,
    cast(dagster_run_id as varchar) as dagster_run_id,
    cast(feature_data_version as varchar) as feature_data_version
from source
