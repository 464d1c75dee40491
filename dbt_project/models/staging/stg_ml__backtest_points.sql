{#- Grain: one row per (backtest_run_id, model, cutoff, series_id, horizon_step): a backtest forecast beside its actual.
    ml.backtest_points (written by Dagster) cast once to its types; the marts read this view. -#}

with source as (

    select * from {{ source('ml', 'backtest_points') }}

)

select
    cast(backtest_run_id as varchar) as backtest_run_id,
    cast(pipeline as varchar) as pipeline,
    cast(model as varchar) as model,
    cast(preset as varchar) as preset,
    cast(cutoff as timestamp) as cutoff,
    cast(series_id as varchar) as series_id,
    cast(target_ts as timestamp) as target_ts,
    cast(horizon_step as integer) as horizon_step,
    cast(actual as {{ type_double() }}) as actual,
    cast(p10 as {{ type_double() }}) as p10,
    cast(p50 as {{ type_double() }}) as p50,
    cast(p90 as {{ type_double() }}) as p90,
    cast(method as varchar) as method,
    cast(scale as {{ type_double() }}) as scale,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(dagster_run_id as varchar) as dagster_run_id,
    cast(created_at as timestamp) as created_at
from source
