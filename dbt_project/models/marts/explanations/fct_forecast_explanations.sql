{#- Grain: one row per (model_name, model_version, series_id, explained_model, kind,
    component, horizon_step). Join to fct_forecasts_latest on (series_id, model_name,
    model_version, horizon_step). -#}

with explanations as (

    select * from {{ ref('stg_ml__forecast_explanations') }}

)

-- Columns in the contract's order (the .yml), which sqlfluff's ST06 would reorder.
select  -- noqa: ST06
    series_id,
    model_name,
    model_version,
    explained_model,
    kind,
    component,
    horizon_step,
    value,
    series_id = '__global__' as is_model_wide,
    forecast_origin,
    mlflow_run_id,
    created_at,
    dagster_run_id
from explanations
