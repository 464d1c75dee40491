{#- Grain: one row per (pipeline, model) of each pipeline's newest backtest run: the leaderboard. -#}

with summary as (

    select * from {{ ref('stg_ml__backtest_summary') }}

),

latest as (

    {{ newest_run_rows('summary') }}

),

baseline as (

    select
        backtest_run_id,
        mase as baseline_mase
    from latest
    where model = 'seasonal_naive'

)

select
    latest.pipeline,
    latest.backtest_run_id,
    latest.rank as model_rank,
    latest.model,
    latest.preset,
    latest.is_champion,
    latest.selection_metric,
    latest.mae,
    latest.rmse,
    latest.mape,
    latest.mape_note,
    latest.smape,
    latest.mase,
    cast(
        case
            when baseline.baseline_mase > 0 then latest.mase / baseline.baseline_mase
        end as {{ type_double() }}
    ) as mase_vs_seasonal_naive,
    latest.pinball_p10,
    latest.pinball_p50,
    latest.pinball_p90,
    latest.pinball_mean,
    latest.coverage_80,
    latest.share_fallback,
    latest.n_cutoffs,
    latest.n_series,
    latest.n_points,
    latest.fit_seconds,
    latest.cutoffs,
    latest.reason,
    latest.mlflow_run_id,
    latest.dagster_run_id,
    latest.created_at
from latest
left join baseline
    on latest.backtest_run_id = baseline.backtest_run_id
