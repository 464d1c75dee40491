{#- Grain: one row per (series_id, ts) on a regular grid from the series' first to last period.
    Periods with no usable observation are filled by var('fill_strategy'); is_filled marks them.
    loaded_at is the aggregated period's (null on a gap the grid adds).

    Incremental: for each series with periods aggregated after this model's watermark, the grid
    is rebuilt from the last observed period before the earliest change (it seeds the forward
    fill and starts any gap the change opens) to the series' end; a new series, or a period
    before a series' start, rebuilds the series. -#}
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

with changed as (

    select
        series_id,
        min(period_ts) as changed_ts
    from {{ aggregated }}
    {%- if incremental_run() %}
        where loaded_at > {{ watermark() }}
    {%- endif %}
    group by series_id

),

spans as (

    select
        series_id,
        start_ts,
        cast({{ periods_between('start_ts', 'last_ts') }} as integer) as n_periods
    from
        ({{ rebuild_starts(aggregated, 'changed', 'period_ts', 'r.value is not null') }})
            as bounds

),

offsets as (

    {{ expand_periods('spans', 'n_periods') }}

),

spine as (

    select
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
