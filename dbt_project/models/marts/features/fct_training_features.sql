{#- Grain: one row per (series_id, ts) on the regular grid. The table models train on.
    Column names are stable whatever the vars (the contract depends on it): the windows behind
    them are var short_window and var season_length. Rolling statistics cover the trailing w
    periods including the current one and stay null until all w values are present, so no
    statistic is computed from a partial window.

    Written for speed on every adapter: one window frame per statistic costs O(rows x w) on
    PostgreSQL (its float aggregates have no inverse transition). Instead every statistic is a
    difference of running sums, cum[i] - cum[i - w], over one ordering (series_id, ts):
    - the sums run over value minus the series mean, so sums of squares stay small and the
      variance s2 - s1^2 / w does not cancel away its digits;
    - a window variance s2 - s1^2 / w at or below the rounding noise of the running sums
      (1e-12 x the running sum of squares) is zero: an all-equal window (forward-filled gaps,
      runs of zeros) gets std exactly 0, and rounding never makes a variance negative.
      So a rolling std below ~1e-6 x sqrt(rows so far / w) x the series' std reads as 0.
    A running max to find all-equal windows exactly cost a third more time on DuckDB.
    PostgreSQL also gets its lags computed in the running sums' WindowAgg node (lag_window) and
    calendar fields from date_part (calendar_part): macros/window_speed.sql. -#}
{%- set windows = {'short': var('short_window'), 'season': var('season_length')} -%}
{%- set series_order = 'partition by series_id order by ts' -%}
{%- set cumulative = ' rows between unbounded preceding and current row' -%}
{#- The first level joins the series centers, so its windows name their columns' table. -#}
{%- set regular_order = 'partition by regular.series_id order by regular.ts' -%}
{%- set regular_running = regular_order ~ cumulative -%}
{%- set regular_lag = lag_window(regular_order, regular_running) -%}

with series_centers as (

    -- A hash aggregate, not a window: keeps the one sort below the only sort.
    select
        series_id,
        avg(value) as center
    from {{ ref('int_observations_regularized') }}
    group by series_id

),

running_sums as (

    select
        regular.series_id,
        regular.ts,
        regular.value,
        regular.is_filled,
        regular.is_outlier,
        series_centers.center,
        lag(regular.value, 1) over ({{ regular_lag }}) as lag_1,
        lag(regular.value, {{ var('season_length') }}) over ({{ regular_lag }}) as lag_season,
        count(regular.value) over ({{ regular_running }}) as cum_n,
        coalesce(
            sum(regular.value - series_centers.center) over ({{ regular_running }}), 0
        ) as cum_s1,
        coalesce(
            sum(
                (regular.value - series_centers.center) * (regular.value - series_centers.center)
            ) over ({{ regular_running }}),
            0
        ) as cum_s2
    from {{ ref('int_observations_regularized') }} as regular
    inner join series_centers on regular.series_id = series_centers.series_id

),

windowed as (

    select
        *,
        {%- for name, w in windows.items() %}
            cum_n - coalesce(lag(cum_n, {{ w }}) over ({{ series_order }}), 0) as n_{{ name }},
            cum_s1 - coalesce(lag(cum_s1, {{ w }}) over ({{ series_order }}), 0) as s1_{{ name }},
            cum_s2 - coalesce(lag(cum_s2, {{ w }}) over ({{ series_order }}), 0) as s2_{{ name }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from running_sums

)

select
    series_id,
    ts,
    cast(value as {{ type_double() }}) as value,
    is_filled,
    is_outlier,
    cast(lag_1 as {{ type_double() }}) as lag_1,
    cast(lag_season as {{ type_double() }}) as lag_season,
    {%- for name, w in windows.items() %}
        {%- set spread = '(s2_' ~ name ~ ' - s1_' ~ name ~ ' * s1_' ~ name ~ ' / ' ~ w ~ ')' %}
        cast(
            case
                when n_{{ name }} = {{ w }} then (s1_{{ name }} + {{ w }} * center) / {{ w }}
            end as {{ type_double() }}
        ) as rolling_mean_{{ name }},
        {%- if w > 1 %}
            cast(
                case
                    when n_{{ name }} = {{ w }} and {{ spread }} > 1e-12 * cum_s2
                        then sqrt({{ spread }} / {{ w - 1 }})
                    when n_{{ name }} = {{ w }} then 0
                end as {{ type_double() }}
            ) as rolling_std_{{ name }},
        {%- else %}
        cast(null as {{ type_double() }}) as rolling_std_{{ name }},
        {%- endif %}
    {%- endfor %}
    {{ calendar_part('year', 'ts') }} as cal_year,
    {{ calendar_part('quarter', 'ts') }} as cal_quarter,
    {{ calendar_part('month', 'ts') }} as cal_month,
    {{ calendar_part('dow', 'ts') }} as cal_day_of_week,
    {{ calendar_part('hour', 'ts') }} as cal_hour
from windowed
