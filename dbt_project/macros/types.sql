{#- dbt.type_float() is 32-bit on DuckDB: warecast wants double precision everywhere. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'warecast')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro snowflake__type_double() -%}double{%- endmacro %}

{#- Non-finite doubles (NaN, +-Infinity) are impossible measurements. PostgreSQL's NaN = NaN is
    true, so compare with literals of the right type on each adapter. -#}
{% macro is_non_finite(column) -%}
    {{ return(adapter.dispatch('is_non_finite', 'warecast')(column)) }}
{%- endmacro %}

{% macro default__is_non_finite(column) -%}
    ({{ column }} in (cast('NaN' as double precision), cast('Infinity' as double precision), cast('-Infinity' as double precision)))
{%- endmacro %}

{% macro snowflake__is_non_finite(column) -%}
    ({{ column }} in ('NaN'::double, 'inf'::double, '-inf'::double))
{%- endmacro %}
