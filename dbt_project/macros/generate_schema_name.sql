{#- Layers get their own schema, named exactly: staging, intermediate, marts. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
