{#- Grain: one row per (series_id, ts) on a regular grid from the series' first to last period.
    Periods with no usable observation are filled by var('fill_strategy'); is_filled marks them.
    loaded_at is the aggregated period's (null on a gap the grid adds).

    Incremental: for each run of consecutive periods aggregated after this model's watermark,
    the grid is rebuilt from the last observed period before the run (it seeds the forward fill)
    to the first observed period after it (where the fill restarts), or to the series' first or
    last period where there is none: a new hour rebuilds the gap before it, a late correction a
    few rows, a new series, or a period before a series' start, the series
    (macros/incremental.sql, rebuild_ranges). -#}
{{ config(**incremental_config()) }}
{%- set strategy = fill_strategy() -%}
{#- forward_fill: one window with IGNORE NULLS where the engine has it (ignore_nulls_fill);
    elsewhere each fill_group is one observed value followed by the gap after it. -#}
{%- set one_window_fill = strategy == 'forward_fill' and ignore_nulls_fill() -%}
{%- set filled_values = {
    'forward_fill': 'filled_value' if one_window_fill
        else 'max(observed_value) over (partition by series_id, fill_group)',
    'zero': 'coalesce(observed_value, 0)',
    'null': 'observed_value',
} -%}

{#- The aggregated table is named where it is read, not in an import CTE: PostgreSQL
    materializes a CTE read more than once, and then uses none of its indexes. -#}
{%- set aggregated = ref('int_observations_aggregated') %}

with changed_periods as (

    select
        series_id,
        period_ts
    from {{ aggregated }}
    where {{ on_incremental_run('loaded_at > ' ~ watermark()) }}

),

changed as (

    {%- if incremental_run() %}
        {{ period_runs('changed_periods', 'period_ts') }}
    {%- else %}
        -- a full build: every series, one run from its first period to its last
        select
            series_id,
            min(period_ts) as from_ts,
            max(period_ts) as to_ts
        from changed_periods
        group by series_id
    {%- endif %}

),

spans as (

    select
        series_id,
        start_ts,
        cast({{ periods_between('start_ts', 'end_ts') }} as integer) as n_periods
    from
        ({{ rebuild_ranges(aggregated, 'changed', 'period_ts', 'r.value is not null') }})
            as bounds

),

offsets as (

    {{ expand_periods('spans', 'n_periods') }}

),

spine as (

    -- the ranges of two runs of one series can overlap: each grid row once
    select {% if incremental_run() %}distinct{% endif %}
        series_id,
        {{ dbt.dateadd(grain(), 'period_offset', 'start_ts') }} as ts
    from offsets

),

joined as (

    select
        spine.series_id,
        spine.ts,
        aggregated.value as observed_value,
        {%- for covariate in var('covariates') %}
        aggregated.{{ covariate }},
        {%- endfor %}
        aggregated.loaded_at,
        aggregated.value is null as is_filled,
        {%- if one_window_fill %}
            last_value(aggregated.value ignore nulls) over (
                partition by spine.series_id
                order by spine.ts
                rows between unbounded preceding and current row
            ) as filled_value
        {%- else %}
            -- a new group starts at every observed value: forward fill without IGNORE NULLS
            count(aggregated.value) over (
                partition by spine.series_id
                order by spine.ts
                rows between unbounded preceding and current row
            ) as fill_group
        {%- endif %}
    from spine
    left join {{ aggregated }} as aggregated
        on spine.series_id = aggregated.series_id and spine.ts = aggregated.period_ts

)

select
    series_id,
    ts,
    {{ filled_values[strategy] }} as value,
    {%- for covariate in var('covariates') %}
    {{ covariate }},
    {%- endfor %}
    is_filled,
    loaded_at,
    {{ build_stamp() }} as built_at
from joined
