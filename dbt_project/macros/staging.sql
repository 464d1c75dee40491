{#- A staging view over a table Dagster writes back (source ml.*): every column the source's yml
    declares, in that order, cast once to its data_type ('double precision' is type_double(),
    the adapter's 64-bit float). The yml is the one list of the table's columns and types. -#}
{% macro cast_source_columns(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set columns = [] -%}
    {%- if execute -%}
        {%- set node = graph.sources.values()
            | selectattr('source_name', 'equalto', source_name)
            | selectattr('name', 'equalto', table_name) | first -%}
        {%- set columns = node.columns.values() | list -%}
        {%- for column in columns if not column.data_type -%}
            {{ exceptions.raise_compiler_error(
                "Source " ~ source_name ~ "." ~ table_name ~ ": column " ~ column.name
                ~ " has no data_type in its yml") }}
        {%- endfor -%}
    {%- endif %}
with source as (

    select * from {{ relation }}

)

select
    {%- for column in columns %}
    {%- set type = type_double() if column.data_type == 'double precision' else column.data_type %}
    cast({{ column.name }} as {{ type }}) as {{ column.name }}{{ ',' if not loop.last }}
    {%- else %}
    *
    {%- endfor %}
from source
{%- endmacro %}
