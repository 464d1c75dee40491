{#- Grain: one row per series_id. Incremental: recomputes the series with regularized periods
    loaded after this model's watermark. -#}
{{ config(
    materialized='incremental', incremental_strategy='delete+insert', unique_key='series_id',
    on_schema_change='fail', pre_hook="{{ warecast.serialize_build() }}"
) }}

with regularized as (

    select * from {{ ref('int_observations_regularized') }}

),

{% if incremental_run() %}
    changed as (

        select distinct series_id
        from regularized
        where loaded_at > {{ watermark() }}

    ),

    regular as (

        select regularized.*
        from regularized
        inner join changed on regularized.series_id = changed.series_id

    )
{% else %}
    regular as (

        select * from regularized

    )
{% endif %}

select
    series_id,
    min(ts) as first_ts,
    max(ts) as last_ts,
    cast(count(*) as integer) as n_periods,
    cast(sum(case when is_filled then 0 else 1 end) as integer) as n_observed,
    cast(avg(case when is_filled then 1.0 else 0.0 end) as {{ type_double() }}) as share_filled,
    max(loaded_at) as loaded_at
from regular
group by series_id
