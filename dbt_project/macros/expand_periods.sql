{#- One row per period offset 0..n for every row of `relation`: the per-series date spine.
    Set-returning functions differ per engine, so this is the one dialect-specific step. -#}
{% macro expand_periods(relation, n_periods) -%}
    {{ return(adapter.dispatch('expand_periods', 'warecast')(relation, n_periods)) }}
{%- endmacro %}

{% macro postgres__expand_periods(relation, n_periods) -%}
    select
        *,
        generate_series(0, {{ n_periods }}) as period_offset
    from {{ relation }}
{%- endmacro %}

{% macro duckdb__expand_periods(relation, n_periods) -%}
    select
        *,
        unnest(generate_series(0, {{ n_periods }})) as period_offset
    from {{ relation }}
{%- endmacro %}

{% macro snowflake__expand_periods(relation, n_periods) -%}
    select
        r.*,
        offsets.value::integer as period_offset
    from {{ relation }} as r,
        lateral flatten(input => array_generate_range(0, {{ n_periods }} + 1)) as offsets
{%- endmacro %}
