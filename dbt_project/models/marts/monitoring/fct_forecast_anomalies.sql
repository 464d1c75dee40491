{#- Grain: one row per band with an observed actual, from two sources (band_source):
    'forecast': every published forecast row whose target period has been observed (the rows of
    fct_forecast_vs_actual), and 'backtest': for every model of each pipeline's newest backtest
    run, one band per (model, series_id, target_ts): the one made at the newest cutoff before
    it (out of sample). Is the actual outside the p10-p90 band, and by how many band-widths. For
    a calibrated 80 % band about 20 % of rows are anomalies; the Dagster asset check
    anomaly_share_newest_period (orchestration/checks.py) warns when the champion's newest
    period has far more. The run columns say which model version, MLflow run and Dagster run
    made the band. -#}

with versus as (

    select * from {{ ref('fct_forecast_vs_actual') }}

),

forecasts as (

    select * from {{ ref('stg_ml__forecasts') }}

),

points as (

    select * from {{ ref('stg_ml__backtest_points') }}

),

summary as (

    select * from {{ ref('stg_ml__backtest_summary') }}

),

-- The family behind each published version: its rows' method, except the seasonal-naive
-- fallback it leaves short series to.
version_families as (

    select
        model_name,
        model_version,
        max(case when method <> 'seasonal_naive_fallback' then method end) as model
    from forecasts
    group by model_name, model_version

),

forecast_bands as (

    select
        'forecast' as band_source,
        cast(null as varchar) as backtest_run_id,
        versus.series_id,
        coalesce(version_families.model, versus.method) as model,
        versus.model_name,
        versus.forecast_origin,
        versus.target_ts,
        versus.horizon_step,
        versus.p10,
        versus.p50,
        versus.p90,
        versus.actual,
        versus.method,
        true as is_champion_model,
        versus.model_version,
        forecasts.mlflow_run_id,
        forecasts.dagster_run_id,
        forecasts.created_at as forecast_created_at,
        versus.feature_data_version
    from versus
    inner join forecasts
        on
            versus.series_id = forecasts.series_id
            and versus.model_name = forecasts.model_name
            and versus.forecast_origin = forecasts.forecast_origin
            and versus.horizon_step = forecasts.horizon_step
    left join version_families
        on
            versus.model_name = version_families.model_name
            and versus.model_version = version_families.model_version

),

-- ml/backtests replaces its pipeline's points on every run; keeping the newest run per
-- pipeline here holds even if a writer ever appends.
backtest_runs as (

    select
        pipeline,
        backtest_run_id,
        row_number() over (
            partition by pipeline order by max(created_at) desc, backtest_run_id desc
        ) as run_recency
    from points
    group by pipeline, backtest_run_id

),

newest_points as (

    select
        points.*,
        row_number() over (
            partition by points.backtest_run_id, points.model, points.series_id, points.target_ts
            order by points.cutoff desc
        ) as band_recency
    from points
    inner join backtest_runs
        on
            points.backtest_run_id = backtest_runs.backtest_run_id
            and backtest_runs.run_recency = 1

),

backtest_bands as (

    select
        'backtest' as band_source,
        newest_points.backtest_run_id,
        newest_points.series_id,
        newest_points.model,
        cast(null as varchar) as model_name,
        newest_points.cutoff as forecast_origin,
        newest_points.target_ts,
        newest_points.horizon_step,
        newest_points.p10,
        newest_points.p50,
        newest_points.p90,
        newest_points.actual,
        newest_points.method,
        coalesce(summary.is_champion, false) as is_champion_model,
        cast(null as varchar) as model_version,
        newest_points.mlflow_run_id,
        newest_points.dagster_run_id,
        newest_points.created_at as forecast_created_at,
        cast(null as varchar) as feature_data_version
    from newest_points
    left join summary
        on
            newest_points.backtest_run_id = summary.backtest_run_id
            and newest_points.model = summary.model
    where newest_points.band_recency = 1

),

bands as (

    select * from forecast_bands
    union all
    select * from backtest_bands

),

scored as (

    select
        bands.*,
        bands.p90 - bands.p10 as band_width,
        case
            when bands.actual > bands.p90 then bands.actual - bands.p90
            when bands.actual < bands.p10 then bands.actual - bands.p10
            else 0
        end as band_excess
    from bands

)

select
    cast(band_source as varchar) as band_source,
    cast(backtest_run_id as varchar) as backtest_run_id,
    cast(series_id as varchar) as series_id,
    cast(model as varchar) as model,
    cast(model_name as varchar) as model_name,
    cast(forecast_origin as timestamp) as forecast_origin,
    cast(target_ts as timestamp) as target_ts,
    cast(horizon_step as integer) as horizon_step,
    cast(p10 as {{ type_double() }}) as p10,
    cast(p50 as {{ type_double() }}) as p50,
    cast(p90 as {{ type_double() }}) as p90,
    cast(actual as {{ type_double() }}) as actual,
    band_excess <> 0 as is_anomaly,
    cast(
        case when band_excess > 0 then 'above' when band_excess < 0 then 'below' else 'inside' end
        as varchar
    ) as direction,
    cast(band_width as {{ type_double() }}) as band_width,
    cast(band_excess as {{ type_double() }}) as band_excess,
    -- Signed distance outside the band in band-widths; null for a zero-width band.
    cast(band_excess / nullif(band_width, 0) as {{ type_double() }}) as band_widths_outside,
    cast(method as varchar) as method,
    cast(is_champion_model as boolean) as is_champion_model,
    cast(model_version as varchar) as model_version,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(dagster_run_id as varchar) as dagster_run_id,
    cast(forecast_created_at as timestamp) as forecast_created_at,
    cast(feature_data_version as varchar) as feature_data_version
from scored
