{#- Grain: one row per (series_id, model_name, horizon_step), like fct_forecasts_latest: the
    model's forecast and the published one, with the analyst override (seeds/forecast_overrides)
    that changed it. An override keys on (series_id, target period), never on a model run, so it
    applies to every newer forecast of those periods. Of overlapping overrides the newest
    created_at wins (then the greatest override_id). A multiplier scales p10, p50 and p90; an
    absolute value becomes p50 and p10/p90 move by the same delta, so the band stays ordered.
    Rows with a problem (dim_forecast_overrides.problem: unknown series, both or neither of
    value/multiplier, multiplier <= 0, reversed range, no reason, author or created_at) are never
    applied, even by a view dbt built before: their test fails `dbt build` and names them. -#}

with forecasts as (

    select * from {{ ref('fct_forecasts_latest') }}

),

overrides as (

    select * from {{ ref('dim_forecast_overrides') }}
    where problem is null

),

matched as (

    select
        forecasts.series_id,
        forecasts.model_name,
        forecasts.horizon_step,
        overrides.override_id,
        overrides.value,
        overrides.multiplier,
        overrides.reason,
        overrides.author,
        overrides.created_at,
        row_number() over (
            partition by forecasts.series_id, forecasts.model_name, forecasts.horizon_step
            order by overrides.created_at desc, overrides.override_id desc
        ) as newest_first
    from forecasts
    inner join overrides
        on
            forecasts.series_id = overrides.series_id
            and forecasts.target_ts between overrides.target_ts_from and overrides.target_ts_to

),

applied as (

    select * from matched
    where newest_first = 1

),

published as (

    select
        forecasts.*,
        applied.override_id,
        applied.value as override_value,
        applied.multiplier as override_multiplier,
        applied.reason as override_reason,
        applied.author as override_author,
        applied.created_at as override_created_at,
        coalesce(applied.multiplier, 1) as scale
    from forecasts
    left join applied
        on
            forecasts.series_id = applied.series_id
            and forecasts.model_name = applied.model_name
            and forecasts.horizon_step = applied.horizon_step

)

select
    cast(series_id as varchar) as series_id,
    cast(model_name as varchar) as model_name,
    cast(forecast_origin as timestamp) as forecast_origin,
    cast(target_ts as timestamp) as target_ts,
    cast(horizon_step as integer) as horizon_step,
    cast(p10 as {{ type_double() }}) as model_p10,
    cast(p50 as {{ type_double() }}) as model_p50,
    cast(p90 as {{ type_double() }}) as model_p90,
    -- An absolute value keeps the band's widths below and above p50 (written as differences so
    -- rounding cannot unorder them); a multiplier above 0 scales all three.
    cast(
        coalesce(override_value - (p50 - p10), p10 * scale) as {{ type_double() }}
    ) as p10,
    cast(coalesce(override_value, p50 * scale) as {{ type_double() }}) as p50,
    cast(
        coalesce(override_value + (p90 - p50), p90 * scale) as {{ type_double() }}
    ) as p90,
    override_id is not null as is_overridden,
    cast(case when override_id is null then 'model' else 'analyst' end as varchar) as published_by,
    cast(override_id as varchar) as override_id,
    cast(override_value as {{ type_double() }}) as override_value,
    cast(override_multiplier as {{ type_double() }}) as override_multiplier,
    cast(override_reason as varchar) as override_reason,
    cast(override_author as varchar) as override_author,
    cast(override_created_at as timestamp) as override_created_at,
    cast(method as varchar) as method,
    cast(model_version as varchar) as model_version,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(dagster_run_id as varchar) as dagster_run_id,
    cast(created_at as timestamp) as forecast_created_at,
    cast(feature_data_version as varchar) as feature_data_version
from published
