{#- Grain: one row per series_id. -#}

with regular as (

    select * from {{ ref('int_observations_regularized') }}

)

select
    series_id,
    min(ts) as first_ts,
    max(ts) as last_ts,
    cast(count(*) as integer) as n_periods,
    cast(sum(case when is_filled then 0 else 1 end) as integer) as n_observed,
    cast(avg(case when is_filled then 1.0 else 0.0 end) as {{ type_double() }}) as share_filled
from regular
group by series_id
