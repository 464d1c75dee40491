{#- Grain: one row per (backtest_run_id, model): a model's metrics over one backtest run.
    ml.backtest_summary (written by Dagster) cast once to its types; the marts read this view. -#}

with source as (

    select * from {{ source('ml', 'backtest_summary') }}

)

select
    cast(backtest_run_id as varchar) as backtest_run_id,
    cast(pipeline as varchar) as pipeline,
    cast(model as varchar) as model,
    cast(preset as varchar) as preset,
    cast(rank as integer) as rank,
    cast(is_champion as boolean) as is_champion,
    cast(selection_metric as varchar) as selection_metric,
    cast(mae as {{ type_double() }}) as mae,
    cast(rmse as {{ type_double() }}) as rmse,
    cast(mape as {{ type_double() }}) as mape,
    cast(smape as {{ type_double() }}) as smape,
    cast(mase as {{ type_double() }}) as mase,
    cast(pinball_p10 as {{ type_double() }}) as pinball_p10,
    cast(pinball_p50 as {{ type_double() }}) as pinball_p50,
    cast(pinball_p90 as {{ type_double() }}) as pinball_p90,
    cast(pinball_mean as {{ type_double() }}) as pinball_mean,
    cast(coverage_80 as {{ type_double() }}) as coverage_80,
    cast(mape_note as varchar) as mape_note,
    cast(n_zero_actuals as bigint) as n_zero_actuals,
    cast(share_fallback as {{ type_double() }}) as share_fallback,
    cast(n_cutoffs as integer) as n_cutoffs,
    cast(n_series as integer) as n_series,
    cast(n_points as bigint) as n_points,
    cast(max_history as bigint) as max_history,
    cast(overrides as varchar) as overrides,
    cast(fit_seconds as {{ type_double() }}) as fit_seconds,
    cast(cutoffs as varchar) as cutoffs,
    cast(reason as varchar) as reason,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(dagster_run_id as varchar) as dagster_run_id,
    cast(created_at as timestamp) as created_at
from source
