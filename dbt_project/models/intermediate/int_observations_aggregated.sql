{#- Grain: one row per (series_id, period_ts) that has at least one observation.
    Impossible values do not enter the aggregate; the period then counts as unobserved.
    Incremental: re-aggregates only the (series_id, period_ts) that staging rows loaded after this
    model's watermark touch, from all of their staging rows. -#}
{{ config(**incremental_config('period_ts')) }}
{%- set agg = var('aggregation') -%}
{%- if agg not in ['avg', 'sum'] -%}
    {{ exceptions.raise_compiler_error("var 'aggregation' must be avg or sum, got '" ~ agg ~ "'") }}
{%- endif -%}
{%- set period = dbt.date_trunc(grain(), 'staged.ts') -%}
{#- The staging table is named in each CTE, not once in an import CTE: PostgreSQL materializes a
    CTE read twice, and then reads neither the watermark nor the key through an index. -#}

with

{% if incremental_run() %}
    changed as (

        select distinct
            staged.series_id,
            {{ period }} as period_ts
        from {{ ref('stg_raw__observations') }} as staged
        where staged.loaded_at > {{ watermark() }}

    ),

    observations as (

        -- the ts range lets PostgreSQL read the period through the (series_id, ts) index
        select
            staged.*,
            changed.period_ts
        from {{ ref('stg_raw__observations') }} as staged
        inner join changed
            on
                staged.series_id = changed.series_id
                and staged.ts >= changed.period_ts
                and staged.ts < {{ dbt.dateadd(grain(), 1, 'changed.period_ts') }}
                and {{ period }} = changed.period_ts

    )
{% else %}
    observations as (

        select
            staged.*,
            {{ period }} as period_ts
        from {{ ref('stg_raw__observations') }} as staged

    )
{% endif %}

select
    series_id,
    period_ts,
    {{ agg }}(case when not is_impossible then value end) as value,
    {%- for covariate in var('covariates') %}
    avg({{ covariate }}) as {{ covariate }},
    {%- endfor %}
    count(case when not is_impossible then value end) as n_observations,
    max(loaded_at) as loaded_at,
    {{ build_stamp() }} as built_at
from observations
group by series_id, period_ts
