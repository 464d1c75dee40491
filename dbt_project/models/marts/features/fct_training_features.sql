{#- Grain: one row per (series_id, ts) on the regular grid. The table models train on.
    Column names are stable whatever the vars (the contract depends on it): the windows behind
    them are var short_window and var season_length. Rolling statistics cover the trailing w
    periods including the current one and stay null until all w values are present, so no
    statistic is computed from a partial window. -#}
{%- set windows = {'short': var('short_window'), 'season': var('season_length')} -%}

with regular as (

    select * from {{ ref('int_observations_regularized') }}

)

select
    series_id,
    ts,
    cast(value as {{ type_double() }}) as value,
    is_filled,
    is_outlier,
    cast(lag(value, 1) over (partition by series_id order by ts) as {{ type_double() }}) as lag_1,
    cast(
        lag(value, {{ var('season_length') }}) over (partition by series_id order by ts)
        as {{ type_double() }}
    ) as lag_season,
    {%- for name, w in windows.items() %}
        {%- set frame = "partition by series_id order by ts rows between "
            ~ (w - 1) ~ " preceding and current row" %}
        case
            when count(value) over ({{ frame }}) = {{ w }}
                then cast(avg(value) over ({{ frame }}) as {{ type_double() }})
        end as rolling_mean_{{ name }},
        case
            when count(value) over ({{ frame }}) = {{ w }}
                then cast(stddev_samp(value) over ({{ frame }}) as {{ type_double() }})
        end as rolling_std_{{ name }},
    {%- endfor %}
    cast(extract(year from ts) as integer) as cal_year,
    cast(extract(quarter from ts) as integer) as cal_quarter,
    cast(extract(month from ts) as integer) as cal_month,
    cast(extract(dow from ts) as integer) as cal_day_of_week,
    cast(extract(hour from ts) as integer) as cal_hour
from regular
