{#- Grain: one row per (series_id, ts). Casts, drops rows without a key, keeps the latest load,
    and flags (never drops) impossible values. Outliers are flagged per period, against the
    periods before it, in fct_training_features.

    Incremental (macros/incremental.sql): a run reads only raw rows loaded after the newest
    loaded_at already here, dedupes them among themselves, and they replace the stored row of the
    same (series_id, ts): their loaded_at is later. -#}
{{ config(**incremental_config(hooks=['{{ warecast.sort_memory() }}'])) }}
{%- set z = var('outlier_z') -%}
{%- set min_value = var('min_value') -%}
{#- Vars are pasted into SQL: accept only numbers and plain identifiers. -#}
{%- if z is not number or (min_value is not none and min_value is not number) -%}
    {{ exceptions.raise_compiler_error("vars outlier_z and min_value must be numbers (min_value may be null)") }}
{%- endif -%}
{%- for covariate in var('covariates') -%}
    {%- if not modules.re.match('^[A-Za-z_][A-Za-z0-9_]{0,62}$', covariate | string) -%}
        {{ exceptions.raise_compiler_error("var covariates: '" ~ covariate ~ "' is not a plain column name (letters, digits, underscores)") }}
    {%- endif -%}
{%- endfor -%}

with source as (

    select * from {{ source('raw', 'observations') }}

),

typed as (

    select
        cast(series_id as varchar) as series_id,
        cast(ts as timestamp) as ts,
        cast(value as {{ type_double() }}) as value,
        cast(loaded_at as timestamp) as loaded_at
    {%- for covariate in var('covariates') %},
        cast({{ covariate }} as {{ type_double() }}) as {{ covariate }}
        {%- endfor %}
    from source
    where
        series_id is not null and ts is not null
        and {{ on_incremental_run('loaded_at > ' ~ watermark()) }}

),

ranked as (

    select
        *,
        -- value desc breaks ties between loads at the same instant deterministically
        row_number() over (
            partition by series_id, ts order by loaded_at desc nulls last, value desc nulls last
        ) as load_rank
    from typed

),

deduped as (

    select
        *,
        coalesce(
            {{ is_non_finite('value') }}
            {%- if min_value is not none %} or value < {{ min_value }}{% endif %},
            false
        ) as is_impossible
    from ranked
    where load_rank = 1

)

select
    series_id,
    ts,
    value,
    loaded_at,
    {%- for covariate in var('covariates') %}
    {{ covariate }},
    {%- endfor %}
    is_impossible,
    {{ build_stamp() }} as built_at
from deduped
