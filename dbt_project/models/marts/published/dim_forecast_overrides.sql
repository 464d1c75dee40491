{#- Grain: one row per row of seeds/forecast_overrides.csv (override_id). Each analyst override
    with what is wrong with it, if anything: `problem` names the first problem found, null when
    warecast can apply the row. The test forecast_overrides_are_valid fails `dbt build` on any
    problem and logs each row by its override_id; fct_forecasts_published applies only rows
    without one. A model, not a test on the seed alone, so that it runs after dim_series. -#}

with overrides as (

    select * from {{ ref('forecast_overrides') }}

),

known_series as (

    select series_id from {{ ref('dim_series') }}

),

checked as (

    select
        overrides.*,
        known_series.series_id is not null as is_known_series,
        count(*) over (partition by overrides.override_id) as rows_with_id
    from overrides
    left join known_series
        on overrides.series_id = known_series.series_id

)

select
    cast(override_id as varchar) as override_id,
    cast(series_id as varchar) as series_id,
    cast(target_ts_from as timestamp) as target_ts_from,
    cast(target_ts_to as timestamp) as target_ts_to,
    cast(value as {{ type_double() }}) as value,
    cast(multiplier as {{ type_double() }}) as multiplier,
    cast(reason as varchar) as reason,
    cast(author as varchar) as author,
    cast(created_at as timestamp) as created_at,
    is_known_series,
    cast(
        case
            when override_id is null or trim(override_id) = ''
                then 'override_id is empty: give the row a unique id'
            when rows_with_id > 1
                then 'override_id is used more than once: give each row its own'
            when not is_known_series
                then
                    'series_id ' || coalesce(series_id, '(empty)')
                    || ' is not a known series (marts.dim_series): fix the id or delete the row'
            when value is not null and multiplier is not null
                then 'gives both value and multiplier: keep exactly one'
            when value is null and multiplier is null
                then 'gives neither value nor multiplier: give exactly one'
            when multiplier <= 0
                then 'multiplier must be above 0 (1.1 = +10 %)'
            when target_ts_from is null or target_ts_to is null
                then 'target_ts_from and target_ts_to are both required (equal for one period)'
            when target_ts_to < target_ts_from
                then 'target_ts_to is before target_ts_from'
            when coalesce(trim(reason), '') = ''
                then 'reason is empty: say why the forecast is overridden'
            when coalesce(trim(author), '') = ''
                then 'author is empty: say who overrides it'
            when created_at is null
                then 'created_at is empty: it decides which of overlapping overrides wins'
        end
        as varchar
    ) as problem
from checked
