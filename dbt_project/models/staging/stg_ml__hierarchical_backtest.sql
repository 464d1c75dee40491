{#- Grain: one row per (backtest_run_id, level, method): a hierarchy level's backtest accuracy.
    ml.hierarchical_backtest (written by Dagster) cast once to its types; the marts read this view. -#}

with source as (

    select * from {{ source('ml', 'hierarchical_backtest') }}

)

select
    cast(backtest_run_id as varchar) as backtest_run_id,
    cast(pipeline as varchar) as pipeline,
    cast(level as varchar) as level,
    cast(level_depth as integer) as level_depth,
    cast(method as varchar) as method,
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
from source
