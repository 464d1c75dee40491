{#- Grain: one row per (series_id, ts). Casts, drops rows without a key, keeps the latest load,
    and flags (never drops) impossible values. Outliers are flagged per period, against the
    periods before it, in fct_training_features.

    Incremental (macros/incremental.sql): a run reads only raw rows loaded after the newest
    loaded_at already here, dedupes them among themselves, and they replace the stored row of the
    same (series_id, ts): their loaded_at is later. -#}
{{ config(**incremental_config(hooks=['{{ warecast.sort_memory() }}'])) }}
{#- Vars are pasted into SQL: accept only plain identifiers (min_value: macros/observations.sql). -#}
{%- for covariate in var('covariates') -%}
    {%- if not modules.re.match('^[A-Za-z_][A-Za-z0-9_]{0,62}$', covariate | string) -%}
        {{ exceptions.raise_compiler_error("var covariates: '" ~ covariate ~ "' is not a plain column name (letters, digits, underscores)") }}
    {%- endif -%}
{%- endfor -%}

with source as (

    select * from {{ source('raw', 'observations') }}

),

typed as (

    select {{ typed_observation_columns(var('covariates')) }}
    from source
    where
        series_id is not null and ts is not null
        and {{ on_incremental_run('loaded_at > ' ~ watermark()) }}

),

ranked as (

    select
        *,
        {{ load_rank() }} as load_rank
    from typed

),

deduped as (

    select
        *,
        {{ is_impossible('value') }} as is_impossible
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
