{#- Grain: one row per (model_name, model_version, series_id, explained_model, kind,
    component, horizon_step). Join to fct_forecasts_latest on (series_id, model_name,
    model_version, horizon_step). -#}

with explanations as (

    select * from {{ source('ml', 'forecast_explanations') }}

)

select
    cast(series_id as varchar) as series_id,
    cast(model_name as varchar) as model_name,
    cast(model_version as varchar) as model_version,
    cast(explained_model as varchar) as explained_model,
    cast(kind as varchar) as kind,
    cast(component as varchar) as component,
    cast(horizon_step as integer) as horizon_step,
    cast(value as {{ type_double() }}) as value,
    series_id = '__global__' as is_model_wide,
    cast(forecast_origin as timestamp) as forecast_origin,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(created_at as timestamp) as created_at,
    cast(dagster_run_id as varchar) as dagster_run_id
from explanations
