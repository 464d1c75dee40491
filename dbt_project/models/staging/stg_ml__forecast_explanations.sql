{#- Grain: one row per (model_name, model_version, series_id, explained_model, kind, component, horizon_step): what drove a forecast.
    ml.forecast_explanations (written by Dagster) cast once to its types; the marts read this view. -#}

with source as (

    select * from {{ source('ml', 'forecast_explanations') }}

)

select
    cast(series_id as varchar) as series_id,
    cast(explained_model as varchar) as explained_model,
    cast(component as varchar) as component,
    cast(horizon_step as integer) as horizon_step,
    cast(value as {{ type_double() }}) as value,
    cast(kind as varchar) as kind,
    cast(forecast_origin as timestamp) as forecast_origin,
    cast(model_name as varchar) as model_name,
    cast(model_version as varchar) as model_version,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(created_at as timestamp) as created_at,
    cast(dagster_run_id as varchar) as dagster_run_id
from source
