{#- Grain: one row per node of the pipeline's hierarchy. 'total' at depth 0, one node per distinct
    prefix of the level attributes (var hierarchy_levels, outermost first) at depths 1..k, and the
    series themselves at the bottom (level 'series', depth k + 1). A depth-k node holding exactly
    one series is that series: it is left out and the series hangs from the node above.
    Members: series with every attribute set in raw.series_attributes that are observed in the
    newest period (a series that stopped reporting has no forecast origin in common with the
    rest). No hierarchy declared: no rows, same columns. -#}
{%- set levels = hierarchy_levels() -%}
{%- set k = levels | length -%}
-- depends_on: {{ source('raw', 'series_attributes') }}

with features as (

    select
        series_id,
        ts
    from {{ ref('fct_training_features') }}

),

{% if k == 0 %}

    nodes as (

        select
            cast(null as varchar) as series_id,
            cast(null as varchar) as level,
            cast(null as integer) as level_depth,
            cast(null as varchar) as parent_id,
            cast(null as integer) as n_series
        from features
        where 1 = 0

    )

{% else %}

active as (

    select series_id
    from features
    group by series_id
    having max(ts) = (select max(features.ts) from features)

),

members as (

    select
        cast(attributes.series_id as varchar) as series_id
        {%- for level in levels %},
        cast(attributes.{{ level }} as varchar) as {{ level }}
        {%- endfor %}
    from {{ source('raw', 'series_attributes') }} as attributes
    inner join active
        on cast(attributes.series_id as varchar) = active.series_id
    where
        {%- for level in levels %}
        {% if not loop.first %}and {% endif %}attributes.{{ level }} is not null
        {%- endfor %}

),

leaves as (

    select
        *,
        count(*) over (partition by {{ levels | join(', ') }}) as n_in_leaf
    from members

),

nodes as (

    select
        'total' as series_id,
        'total' as level,
        0 as level_depth,
        cast(null as varchar) as parent_id,
        {%- for level in levels %}
        cast(null as varchar) as {{ level }},
        {%- endfor %}
        count(*) as n_series
    from leaves
    having count(*) > 0
    {%- for depth in range(1, k + 1) %}

    union all

    select
        {{ hierarchy_node_id(levels, depth) }} as series_id,
        '{{ levels[:depth] | join("/") }}' as level,
        {{ depth }} as level_depth,
        {{ hierarchy_node_id(levels, depth - 1) }} as parent_id,
        {%- for level in levels %}
        {% if loop.index <= depth %}{{ level }}{% else %}cast(null as varchar){% endif %} as {{ level }},
        {%- endfor %}
        count(*) as n_series
    from leaves
    {%- if depth == k %}
    where n_in_leaf > 1
    {%- endif %}
    group by {{ levels[:depth] | join(', ') }}
    {%- endfor %}

    union all

    select
        series_id,
        'series' as level,
        {{ k + 1 }} as level_depth,
        case
            when n_in_leaf > 1 then {{ hierarchy_node_id(levels, k) }}
            else {{ hierarchy_node_id(levels, k - 1) }}
        end as parent_id,
        {%- for level in levels %}
        {{ level }},
        {%- endfor %}
        1 as n_series
    from leaves

)

{% endif %}

select
    cast(series_id as varchar) as series_id,
    cast(level as varchar) as level,
    cast(level_depth as integer) as level_depth,
    cast(parent_id as varchar) as parent_id,
    {%- for level in levels %}
    cast({{ level }} as varchar) as {{ level }},
    {%- endfor %}
    cast(n_series as integer) as n_series
from nodes
