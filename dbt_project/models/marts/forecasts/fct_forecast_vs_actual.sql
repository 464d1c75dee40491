{#- Grain: one row per forecast row (series_id, model_name, forecast_origin, horizon_step) whose
    target period has an observed (not filled) actual. -#}

with forecasts as (

    select * from {{ ref('stg_ml__forecasts') }}

),

actuals as (

    select
        series_id,
        ts,
        value
    from {{ ref('fct_training_features') }}
    where not is_filled and value is not null

)

select
    forecasts.series_id,
    forecasts.model_name,
    forecasts.model_version,
    forecasts.feature_data_version,
    forecasts.forecast_origin,
    forecasts.target_ts,
    forecasts.horizon_step,
    forecasts.p10,
    forecasts.p50,
    forecasts.p90,
    forecasts.method,
    cast(actuals.value as {{ type_double() }}) as actual,
    cast(actuals.value - forecasts.p50 as {{ type_double() }}) as error,
    cast(abs(actuals.value - forecasts.p50) as {{ type_double() }}) as abs_error,
    actuals.value between forecasts.p10 and forecasts.p90 as in_interval
from forecasts
inner join actuals
    on forecasts.series_id = actuals.series_id and forecasts.target_ts = actuals.ts
