{#- Grain: one row per (series_id, ts) for every node of dim_hierarchy: the bottom series' values
    from fct_training_features unchanged, each aggregate the sum of its series' values in that
    period (nulls left out; n_series says how many were summed). No hierarchy: no rows. -#}
{%- set levels = hierarchy_levels() -%}
{%- set k = levels | length -%}

with nodes as (

    select * from {{ ref('dim_hierarchy') }}

),

bottom as (

    select
        features.series_id,
        features.ts,
        features.value
    {%- for level in levels %},
        nodes.{{ level }}
    {%- endfor %}
    from {{ ref('fct_training_features') }} as features
    inner join nodes
        on features.series_id = nodes.series_id
    where nodes.level = 'series'

),

aggregated as (

    select
        ts,
        'total' as series_id,
        false as is_bottom,
        sum(value) as value,
        count(value) as n_series
    from bottom
    group by ts
    {%- for depth in range(1, k + 1) %}

    union all

    select
        ts,
        {{ hierarchy_node_id(levels, depth) }} as series_id,
        false as is_bottom,
        sum(value) as value,
        count(value) as n_series
    from bottom
    group by {{ levels[:depth] | join(', ') }}, ts
    {%- endfor %}

),

every_node as (

    select
        series_id,
        ts,
        value,
        n_series,
        is_bottom
    from aggregated

    union all

    select
        series_id,
        ts,
        value,
        case when value is null then 0 else 1 end as n_series,
        true as is_bottom
    from bottom

)

select
    cast(every_node.series_id as varchar) as series_id,
    cast(nodes.level as varchar) as level,
    cast(every_node.ts as timestamp) as ts,
    cast(every_node.value as {{ type_double() }}) as value,
    cast(every_node.n_series as integer) as n_series
from every_node
-- Aggregates dim_hierarchy leaves out (a depth-k node that is one series) drop here.
inner join nodes
    on
        every_node.series_id = nodes.series_id
        and every_node.is_bottom = (nodes.level = 'series')
