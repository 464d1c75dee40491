{#- Grain: one row per (pipeline, model) of each pipeline's newest backtest run: the leaderboard. -#}

with summary as (

    select * from {{ source('ml', 'backtest_summary') }}

),

latest_run as (

    select
        pipeline,
        max(created_at) as created_at
    from summary
    group by pipeline

),

latest as (

    select summary.*
    from summary
    inner join latest_run
        on
            summary.pipeline = latest_run.pipeline
            and summary.created_at = latest_run.created_at

),

baseline as (

    select
        backtest_run_id,
        mase as baseline_mase
    from latest
    where model = 'seasonal_naive'

)

select
    cast(latest.pipeline as varchar) as pipeline,
    cast(latest.backtest_run_id as varchar) as backtest_run_id,
    cast(latest.rank as integer) as model_rank,
    cast(latest.model as varchar) as model,
    cast(latest.preset as varchar) as preset,
    cast(latest.is_champion as boolean) as is_champion,
    cast(latest.selection_metric as varchar) as selection_metric,
    cast(latest.mae as {{ type_double() }}) as mae,
    cast(latest.rmse as {{ type_double() }}) as rmse,
    cast(latest.mape as {{ type_double() }}) as mape,
    cast(latest.mape_note as varchar) as mape_note,
    cast(latest.smape as {{ type_double() }}) as smape,
    cast(latest.mase as {{ type_double() }}) as mase,
    cast(
        case
            when baseline.baseline_mase > 0 then latest.mase / baseline.baseline_mase
        end as {{ type_double() }}
    ) as mase_vs_seasonal_naive,
    cast(latest.pinball_p10 as {{ type_double() }}) as pinball_p10,
    cast(latest.pinball_p50 as {{ type_double() }}) as pinball_p50,
    cast(latest.pinball_p90 as {{ type_double() }}) as pinball_p90,
    cast(latest.pinball_mean as {{ type_double() }}) as pinball_mean,
    cast(latest.coverage_80 as {{ type_double() }}) as coverage_80,
    cast(latest.share_fallback as {{ type_double() }}) as share_fallback,
    cast(latest.n_cutoffs as integer) as n_cutoffs,
    cast(latest.n_series as integer) as n_series,
    cast(latest.n_points as bigint) as n_points,
    cast(latest.fit_seconds as {{ type_double() }}) as fit_seconds,
    cast(latest.cutoffs as varchar) as cutoffs,
    cast(latest.reason as varchar) as reason,
    cast(latest.mlflow_run_id as varchar) as mlflow_run_id,
    cast(latest.dagster_run_id as varchar) as dagster_run_id,
    cast(latest.created_at as timestamp) as created_at
from latest
left join baseline
    on latest.backtest_run_id = baseline.backtest_run_id
