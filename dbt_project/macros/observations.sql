{#- How raw observations are typed and deduplicated: one definition, used by
    stg_raw__observations (the rows it keeps) and fct_observation_issues (the rows it drops,
    overrides, excludes or flags), so the two can never disagree. -#}

{#- var min_value, checked: it is pasted into SQL, so only a number (or null) is accepted. -#}
{% macro checked_min_value() -%}
    {%- set min_value = var('min_value') -%}
    {%- if min_value is not none and min_value is not number -%}
        {{ exceptions.raise_compiler_error("var min_value must be a number (or null)") }}
    {%- endif -%}
    {{ return(min_value) }}
{%- endmacro %}

{#- The select list casting raw.observations' columns (and the named covariates) to their types. -#}
{% macro typed_observation_columns(covariates=[]) -%}
    cast(series_id as varchar) as series_id,
    cast(ts as timestamp) as ts,
    cast(value as {{ type_double() }}) as value,
    cast(loaded_at as timestamp) as loaded_at
    {%- for covariate in covariates %},
    cast({{ covariate }} as {{ type_double() }}) as {{ covariate }}
    {%- endfor %}
{%- endmacro %}

{#- 1 for the row that wins its (series_id, ts): the latest load; value desc breaks ties between
    loads at the same instant deterministically. -#}
{% macro load_rank() -%}
    row_number() over (
        partition by series_id, ts order by loaded_at desc nulls last, value desc nulls last
    )
{%- endmacro %}

{#- True for an impossible value: non-finite, or below var min_value. -#}
{% macro is_impossible(column='value') -%}
    {%- set floor = checked_min_value() -%}
    coalesce(
        {{ is_non_finite(column) }}
        {%- if floor is not none %} or {{ column }} < {{ floor }}{% endif %},
        false
    )
{%- endmacro %}
