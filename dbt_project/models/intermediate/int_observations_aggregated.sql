{#- Grain: one row per (series_id, period_ts) that has at least one observation.
    Impossible values do not enter the aggregate; the period then counts as unobserved. -#}
{%- set agg = var('aggregation') -%}
{%- if agg not in ['avg', 'sum'] -%}
    {{ exceptions.raise_compiler_error("var 'aggregation' must be avg or sum, got '" ~ agg ~ "'") }}
{%- endif -%}

with observations as (

    select * from {{ ref('stg_raw__observations') }}

)

select
    series_id,
    {{ dbt.date_trunc(grain(), 'ts') }} as period_ts,
    {{ agg }}(case when not is_impossible then value end) as value,
    {%- for covariate in var('covariates') %}
    avg({{ covariate }}) as {{ covariate }},
    {%- endfor %}
    count(case when not is_impossible then value end) as n_observations,
    max(case when is_outlier then 1 else 0 end) = 1 as is_outlier
from observations
group by series_id, {{ dbt.date_trunc(grain(), 'ts') }}
