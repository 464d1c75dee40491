{#- fakesnow shim, active only when WARECAST_FAKESNOW=1 (the test suite's Snowflake target).

    fakesnow emulates Snowflake on DuckDB, where a TEMPORARY table cannot live in a named
    database and schema; dbt-snowflake creates the unit tests' scratch table as
    `create temporary table <db>.<schema>.<name>`. Under fakesnow that table is a transient
    table instead (dbt drops it right after reading its column types). Everywhere else, real
    Snowflake included, this calls dbt-snowflake's own macro unchanged. -#}
{% macro snowflake__create_table_temporary_sql(relation, compiled_code) -%}
    {%- if env_var('WARECAST_FAKESNOW', '') == '1' -%}
create or replace transient table {{ relation }} as (
    {{ compiled_code }}
)
    {%- else -%}
        {{ dbt.snowflake__create_table_temporary_sql(relation, compiled_code) }}
    {%- endif -%}
{%- endmacro %}
