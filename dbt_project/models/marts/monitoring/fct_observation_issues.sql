{#- Grain: one row per (raw row, issue): every raw row staging drops, overrides, excludes or
    flags, with the issue and what was done, so no row disappears without a recorded reason.
    Types and dedupes the raw rows with the same macros as stg_raw__observations
    (macros/observations.sql). Outliers are judged per period, against the periods before it
    (fct_training_features.is_outlier): their raw rows are read back from there. -#}

with source as (

    select * from {{ source('raw', 'observations') }}

),

typed as (

    select {{ typed_observation_columns() }}
    from source

),

ranked as (

    select
        *,
        {{ load_rank() }} as load_rank
    from typed
    where series_id is not null and ts is not null

),

kept as (

    select
        *,
        {{ is_impossible('value') }} as is_impossible
    from ranked
    where load_rank = 1

),

issues as (

    select
        series_id,
        ts,
        value,
        loaded_at,
        case when series_id is null then 'missing_series_id' else 'missing_ts' end as issue,
        'dropped' as action
    from typed
    where series_id is null or ts is null

    union all

    select
        series_id,
        ts,
        value,
        loaded_at,
        'superseded_duplicate' as issue,
        'dropped: a later load of the same (series_id, ts) wins' as action
    from ranked
    where load_rank > 1

    union all

    select
        series_id,
        ts,
        value,
        loaded_at,
        case
            when {{ is_non_finite('value') }} then 'non_finite_value'
            else 'below_min_value'
        end as issue,
        'excluded from aggregation: the period counts as unobserved' as action
    from kept
    where is_impossible

    union all

    select
        series_id,
        ts,
        value,
        loaded_at,
        'missing_value' as issue,
        'kept: the period is filled per var fill_strategy' as action
    from kept
    where value is null

    union all

    select
        kept.series_id,
        kept.ts,
        kept.value,
        kept.loaded_at,
        'outlier' as issue,
        'kept; its period is flagged is_outlier in fct_training_features' as action
    from kept
    inner join {{ ref('fct_training_features') }} as features
        on
            kept.series_id = features.series_id
            and {{ dbt.date_trunc(grain(), 'kept.ts') }} = features.ts
    where features.is_outlier and not kept.is_impossible and kept.value is not null

    union all

    select
        series_id,
        ts,
        value,
        loaded_at,
        'off_grain_ts' as issue,
        'aggregated into its {{ grain() }}' as action
    from kept
    where ts != {{ dbt.date_trunc(grain(), 'ts') }}

),

numbered as (

    select
        *,
        row_number() over (order by issue, series_id, ts, loaded_at, value) as issue_id
    from issues

)

select
    issue_id,
    series_id,
    ts,
    value,
    loaded_at,
    issue,
    action
from numbered
