{#- The grain var, validated once so a typo fails loudly instead of building a wrong grid. -#}
{% macro grain() -%}
    {%- set grain = var('grain') -%}
    {%- if grain not in ['hour', 'day', 'week', 'month'] -%}
        {{ exceptions.raise_compiler_error("var 'grain' must be hour, day, week or month, got '" ~ grain ~ "'") }}
    {%- endif -%}
    {{ return(grain) }}
{%- endmacro %}

{% macro fill_strategy() -%}
    {%- set strategy = var('fill_strategy') -%}
    {%- if strategy not in ['forward_fill', 'zero', 'null', none] -%}
        {{ exceptions.raise_compiler_error("var 'fill_strategy' must be forward_fill, zero or null, got '" ~ strategy ~ "'") }}
    {%- endif -%}
    {{ return(strategy or 'null') }}
{%- endmacro %}

{#- Whole periods between two truncated timestamps, for the spine. -#}
{% macro periods_between(start_ts, end_ts) -%}
    {{ dbt.datediff(start_ts, end_ts, grain()) | trim }}
{%- endmacro %}
