{#- Grain: one row per forecast row (series_id, model_name, forecast_origin, horizon_step) whose
    target period has an observed (not filled) actual. -#}

with forecasts as (

    select * from {{ source('ml', 'forecasts') }}

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
    cast(forecasts.series_id as varchar) as series_id,
    cast(forecasts.model_name as varchar) as model_name,
    cast(forecasts.model_version as varchar) as model_version,
    cast(forecasts.feature_data_version as varchar) as feature_data_version,
    cast(forecasts.forecast_origin as timestamp) as forecast_origin,
    cast(forecasts.target_ts as timestamp) as target_ts,
    cast(forecasts.horizon_step as integer) as horizon_step,
    cast(forecasts.p10 as {{ type_double() }}) as p10,
    cast(forecasts.p50 as {{ type_double() }}) as p50,
    cast(forecasts.p90 as {{ type_double() }}) as p90,
    cast(forecasts.method as varchar) as method,
    cast(actuals.value as {{ type_double() }}) as actual,
    cast(actuals.value - forecasts.p50 as {{ type_double() }}) as error,
    cast(abs(actuals.value - forecasts.p50) as {{ type_double() }}) as abs_error,
    actuals.value between forecasts.p10 and forecasts.p90 as in_interval
from forecasts
inner join actuals
    on forecasts.series_id = actuals.series_id and forecasts.target_ts = actuals.ts
