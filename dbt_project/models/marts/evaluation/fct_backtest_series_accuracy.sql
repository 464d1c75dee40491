{#- Grain: one row per (pipeline, model, series_id) of each pipeline's newest backtest run:
    accuracy of every model on every series, over all cutoffs and horizon steps. -#}

with summary as (

    select * from {{ ref('stg_ml__backtest_summary') }}

),

latest as (

    {{ newest_run_rows('summary') }}

),

latest_models as (

    select
        pipeline,
        backtest_run_id,
        model,
        is_champion
    from latest

),

terms as (

    select
        latest_models.pipeline,
        points.backtest_run_id,
        points.model,
        points.series_id,
        points.cutoff,
        points.p50 - points.actual as error,
        abs(points.actual - points.p50) as abs_error,
        case
            when points.actual <> 0 then 100 * abs(points.actual - points.p50) / abs(points.actual)
        end as ape,
        case
            when abs(points.actual) + abs(points.p50) > 0
                then
                    200 * abs(points.actual - points.p50)
                    / (abs(points.actual) + abs(points.p50))
            else 0
        end as sape,
        case
            when points.scale > 0 then abs(points.actual - points.p50) / points.scale
        end as scaled_abs_error,
        case when points.actual between points.p10 and points.p90 then 1 else 0 end as in_interval,
        case when points.actual = 0 then 1 else 0 end as is_zero_actual
    from {{ ref('stg_ml__backtest_points') }} as points
    inner join latest_models
        on
            points.backtest_run_id = latest_models.backtest_run_id
            and points.model = latest_models.model

),

per_series as (

    select
        pipeline,
        backtest_run_id,
        model,
        series_id,
        count(distinct cutoff) as n_cutoffs,
        count(*) as n_points,
        avg(abs_error) as mae,
        sqrt(avg(error * error)) as rmse,
        case when sum(is_zero_actual) = 0 then avg(ape) end as mape,
        avg(sape) as smape,
        avg(scaled_abs_error) as mase,
        avg(error) as bias,
        avg(cast(in_interval as {{ type_double() }})) as coverage_80
    from terms
    group by pipeline, backtest_run_id, model, series_id

)

select
    per_series.pipeline,
    per_series.backtest_run_id,
    per_series.model,
    per_series.series_id,
    latest_models.is_champion as is_champion_model,
    cast(
        rank() over (
            partition by per_series.pipeline, per_series.series_id
            order by per_series.mase asc nulls last
        ) as integer
    ) as series_rank,
    cast(per_series.n_cutoffs as integer) as n_cutoffs,
    cast(per_series.n_points as integer) as n_points,
    cast(per_series.mae as {{ type_double() }}) as mae,
    cast(per_series.rmse as {{ type_double() }}) as rmse,
    cast(per_series.mape as {{ type_double() }}) as mape,
    cast(per_series.smape as {{ type_double() }}) as smape,
    cast(per_series.mase as {{ type_double() }}) as mase,
    cast(per_series.bias as {{ type_double() }}) as bias,
    cast(per_series.coverage_80 as {{ type_double() }}) as coverage_80
from per_series
inner join latest_models
    on
        per_series.backtest_run_id = latest_models.backtest_run_id
        and per_series.model = latest_models.model
