{#- Grain: one row per (series_id, ts) on the regular grid. The table models train on.
    Column names are stable whatever the vars (the contract depends on it): the windows behind
    them are var short_window and var season_length. Rolling statistics cover the trailing w
    periods including the current one and stay null until all w values are present, so no
    statistic is computed from a partial window.

    Written for speed on every adapter: one window frame per statistic costs O(rows x w) on
    PostgreSQL (its float aggregates have no inverse transition). Instead every statistic is a
    difference of running sums, cum[i] - cum[i - w], over one ordering (series_id, part, ts):
    - the running sums restart at every block of feature_block() periods (macros/
      incremental.sql) and each block re-reads the feature_lookback() periods before it, so a
      row's doubles depend only on its block, never on where the build started reading: an
      incremental build equals a full refresh exactly;
    - the sums run over value minus the block's smallest value, so sums of squares stay small
      and the variance s2 - s1^2 / w does not cancel away its digits;
    - a window variance s2 - s1^2 / w at or below the rounding noise of the running sums
      (1e-12 x the running sum of squares) is zero: an all-equal window (forward-filled gaps,
      runs of zeros) gets std exactly 0, and rounding never makes a variance negative.
    is_outlier: an observed period whose value is more than var outlier_z standard deviations
    from the mean of the observed values of the var outlier_window periods before it (at least
    half of them observed, their std above 0). Causal: a new period never changes an old flag.
    PostgreSQL also gets its lags computed in the running sums' WindowAgg node (lag_window) and
    calendar fields from date_part (calendar_part): macros/window_speed.sql.

    Incremental: the blocks holding grid rows built after this model's watermark (built_at), and
    the next block where such a row lies in its look-back, are rebuilt whole, each from its rows
    and the look-back before it (macros/incremental.sql, rebuild_blocks): a new hour rebuilds
    its block, a late correction one or two blocks. -#}
{{ config(**incremental_config()) }}
{%- set z = var('outlier_z') -%}
{%- if z is not number -%}
    {{ exceptions.raise_compiler_error("var outlier_z must be a number") }}
{%- endif -%}
{%- set windows = {'short': var('short_window'), 'season': var('season_length')} -%}
{%- set n_out = outlier_window() -%}
{%- set lookback = feature_lookback() -%}
{%- set block = feature_block() -%}
{%- set part_order = 'partition by series_id, part order by ts' -%}
{%- set running = part_order ~ ' rows between unbounded preceding and current row' -%}
{%- set lag_over = lag_window(part_order, running) -%}

{#- The regularized table is named where it is read, not in an import CTE: PostgreSQL
    materializes a CTE read more than once, and then uses none of its indexes. -#}
{%- set regular = ref('int_observations_regularized') %}

with

{% if incremental_run() %}
    blocks as (

        {{ rebuild_blocks(regular) }}

    ),

    read_ranges as (

        -- A block's rows, and the look-back before it unless the block before is read whole:
        -- ranges that never overlap, so every row is read once.
        select
            blocks.series_id,
            {{ block_start('blocks.block_id') }} as own_ts,
            {{ block_start('blocks.block_id',
                'case when previous.block_id is null then ' ~ lookback ~ ' else 0 end') }}
                as read_ts,
            {{ block_start('blocks.block_id + 1') }} as end_ts
        from blocks
        left join blocks as previous
            on blocks.series_id = previous.series_id and blocks.block_id = previous.block_id + 1

    ),

    rows_read as (

        select
            regular.*,
            regular.ts >= read_ranges.own_ts as is_rebuilt
        from {{ regular }} as regular
        inner join read_ranges
            on
                regular.series_id = read_ranges.series_id
                and regular.ts >= read_ranges.read_ts
                and regular.ts < read_ranges.end_ts

    ),
{% else %}
    rows_read as (

        select
            *,
            true as is_rebuilt
        from {{ regular }}

    ),
{% endif %}

numbered as (

    select
        *,
        {{ block_of(period_number('ts')) }} as own_block,
        {{ period_number('ts') }} as period_number
    from rows_read

),

extended as (

    -- every row in its own block, and the block's last look-back periods again in the next
    select
        *,
        own_block as part
    from numbered
    union all
    select
        *,
        own_block + 1 as part
    from numbered
    where period_number - own_block * {{ block }} >= {{ block - lookback }}

),

centers as (

    -- A hash aggregate, not a window: keeps the one sort below the only sort.
    select
        series_id,
        part,
        min(value) as center
    from extended
    group by series_id, part

),

observed as (

    select
        extended.*,
        centers.center,
        extended.value - centers.center as dev,
        case when not extended.is_filled then extended.value - centers.center end as observed_dev
    from extended
    inner join centers on extended.series_id = centers.series_id and extended.part = centers.part

),

running_sums as (

    select
        series_id,
        ts,
        value,
        is_filled,
        loaded_at,
        own_block,
        part,
        is_rebuilt,
        center,
        dev,
        lag(value, 1) over ({{ lag_over }}) as lag_1,
        lag(value, {{ var('season_length') }}) over ({{ lag_over }}) as lag_season,
        count(value) over ({{ running }}) as cum_n,
        coalesce(sum(dev) over ({{ running }}), 0) as cum_s1,
        coalesce(sum(dev * dev) over ({{ running }}), 0) as cum_s2,
        count(observed_dev) over ({{ running }}) as cum_on,
        coalesce(sum(observed_dev) over ({{ running }}), 0) as cum_o1,
        coalesce(sum(observed_dev * observed_dev) over ({{ running }}), 0) as cum_o2
    from observed

),

windowed as (

    select
        *,
        {%- for name, w in windows.items() %}
            cum_n - coalesce(lag(cum_n, {{ w }}) over ({{ part_order }}), 0) as n_{{ name }},
            cum_s1 - coalesce(lag(cum_s1, {{ w }}) over ({{ part_order }}), 0) as s1_{{ name }},
            cum_s2 - coalesce(lag(cum_s2, {{ w }}) over ({{ part_order }}), 0) as s2_{{ name }},
        {%- endfor %}
        -- the rounding noise of the sums the outlier window is the difference of
        coalesce(lag(cum_o2, 1) over ({{ part_order }}), 0) as prev_cum_o2,
        {%- for name in ['on', 'o1', 'o2'] %}
            coalesce(lag(cum_{{ name }}, 1) over ({{ part_order }}), 0)
            - coalesce(lag(cum_{{ name }}, {{ n_out + 1 }}) over ({{ part_order }}), 0)
                as prev_{{ name }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from running_sums

),

owned as (

    select * from windowed
    where
        part = own_block
        and {{ on_incremental_run('is_rebuilt') }}

)

select
    series_id,
    ts,
    cast(value as {{ type_double() }}) as value,
    is_filled,
    {%- set prev_spread = '(prev_o2 - prev_o1 * prev_o1 / nullif(prev_on, 0))' %}
    {%- set prev_gap = '(dev - prev_o1 / nullif(prev_on, 0))' %}
    coalesce(
        not is_filled
        and prev_on >= {{ [2, (n_out + 1) // 2] | max }}
        and {{ prev_spread }} > 1e-12 * prev_cum_o2
        and {{ prev_gap }} * {{ prev_gap }}
        > {{ z }} * {{ z }} * {{ prev_spread }} / nullif(prev_on - 1, 0),
        false
    ) as is_outlier,
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
    {{ calendar_part('hour', 'ts') }} as cal_hour,
    loaded_at,
    {{ build_stamp() }} as built_at
from owned
