{#- Grain: one row per (pipeline, level, method) of each pipeline's newest hierarchical backtest:
    is each level forecast better unreconciled or reconciled? A view over
    ml.hierarchical_backtest, so it is never out of step with it. -#}
{{ config(materialized='view') }}

with backtest as (

    select * from {{ ref('stg_ml__hierarchical_backtest') }}

),

latest as (

    {{ newest_run_rows('backtest') }}

)

select
    pipeline,
    backtest_run_id,
    level,
    level_depth,
    method,
    cast(
        rank() over (partition by pipeline, level order by mase) as integer
    ) as method_rank,
    model_name,
    preset,
    mase,
    mase_vs_base,
    mae,
    rmse,
    smape,
    pinball_mean,
    coverage_80,
    n_series,
    n_cutoffs,
    n_points,
    cutoffs,
    dagster_run_id,
    created_at
from latest
