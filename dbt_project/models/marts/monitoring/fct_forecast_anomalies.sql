{#- Grain: one row per forecast row with an observed actual (the rows of fct_forecast_vs_actual):
    is the actual outside the model's p10-p90 band, and by how many band-widths. For a calibrated
    80 % band about 20 % of rows are anomalies; the Dagster asset check
    anomaly_share_newest_period (orchestration/checks.py) warns when the newest period has far
    more. The run columns say which model version, MLflow run and Dagster run made the band. -#}

with versus as (

    select * from {{ ref('fct_forecast_vs_actual') }}

),

forecasts as (

    select * from {{ source('ml', 'forecasts') }}

),

scored as (

    select
        versus.*,
        forecasts.mlflow_run_id,
        forecasts.dagster_run_id,
        forecasts.created_at as forecast_created_at,
        versus.p90 - versus.p10 as band_width,
        case
            when versus.actual > versus.p90 then versus.actual - versus.p90
            when versus.actual < versus.p10 then versus.actual - versus.p10
            else 0
        end as band_excess
    from versus
    inner join forecasts
        on
            versus.series_id = forecasts.series_id
            and versus.model_name = forecasts.model_name
            and versus.forecast_origin = forecasts.forecast_origin
            and versus.horizon_step = forecasts.horizon_step

)

select
    cast(series_id as varchar) as series_id,
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
    cast(model_version as varchar) as model_version,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(dagster_run_id as varchar) as dagster_run_id,
    cast(forecast_created_at as timestamp) as forecast_created_at,
    cast(feature_data_version as varchar) as feature_data_version
from scored
