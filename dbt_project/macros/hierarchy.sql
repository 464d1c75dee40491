{#- The hierarchy marts' level columns come from var hierarchy_levels (orchestration/pipelines.yaml
    `hierarchy.levels`): pasted into SQL, so only plain lowercase column names are accepted. -#}
{% macro hierarchy_levels() -%}
    {%- set levels = var('hierarchy_levels') -%}
    {%- if levels is string or levels is mapping -%}
        {{ exceptions.raise_compiler_error("var hierarchy_levels must be a list of column names, e.g. [state, industry]") }}
    {%- endif -%}
    {%- for level in levels -%}
        {%- if not modules.re.match('^[a-z_][a-z0-9_]{0,62}$', level | string) or level == 'series_id' -%}
            {{ exceptions.raise_compiler_error("var hierarchy_levels: '" ~ level ~ "' is not a plain lowercase column name (letters, digits, underscores; not series_id)") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(levels | list) }}
{%- endmacro %}

{#- The id of a node at `depth` (0 = 'total'): e.g. state=Victoria/industry=Food retailing. -#}
{% macro hierarchy_node_id(levels, depth, relation='') -%}
    {%- if depth == 0 -%}
        'total'
    {%- else -%}
        {%- set parts = [] -%}
        {%- for level in levels[:depth] -%}
            {%- do parts.append("'" ~ level ~ "=' || " ~ (relation ~ '.' if relation else '') ~ level) -%}
        {%- endfor -%}
        {{ parts | join(" || '/' || ") }}
    {%- endif -%}
{%- endmacro %}
