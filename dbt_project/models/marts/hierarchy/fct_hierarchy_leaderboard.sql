{#- Grain: one row per (pipeline, level, method) of each pipeline's newest hierarchical backtest:
    is each level forecast better unreconciled or reconciled? A view over
    ml.hierarchical_backtest, so it is never out of step with it. -#}
{{ config(materialized='view') }}

with backtest as (

    select * from {{ source('ml', 'hierarchical_backtest') }}

),

latest_run as (

    select
        pipeline,
        max(created_at) as created_at
    from backtest
    group by pipeline

),

latest as (

    select backtest.*
    from backtest
    inner join latest_run
        on
            backtest.pipeline = latest_run.pipeline
            and backtest.created_at = latest_run.created_at

)

select
    cast(pipeline as varchar) as pipeline,
    cast(backtest_run_id as varchar) as backtest_run_id,
    cast(level as varchar) as level,
    cast(level_depth as integer) as level_depth,
    cast(method as varchar) as method,
    cast(
        rank() over (partition by pipeline, level order by mase) as integer
    ) as method_rank,
    cast(model_name as varchar) as model_name,
    cast(preset as varchar) as preset,
    cast(mase as {{ type_double() }}) as mase,
    cast(mase_vs_base as {{ type_double() }}) as mase_vs_base,
    cast(mae as {{ type_double() }}) as mae,
    cast(rmse as {{ type_double() }}) as rmse,
    cast(smape as {{ type_double() }}) as smape,
    cast(pinball_mean as {{ type_double() }}) as pinball_mean,
    cast(coverage_80 as {{ type_double() }}) as coverage_80,
    cast(n_series as integer) as n_series,
    cast(n_cutoffs as integer) as n_cutoffs,
    cast(n_points as bigint) as n_points,
    cast(cutoffs as varchar) as cutoffs,
    cast(dagster_run_id as varchar) as dagster_run_id,
    cast(created_at as timestamp) as created_at
from latest
