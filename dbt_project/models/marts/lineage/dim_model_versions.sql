{#- Grain: one row per (model_name, model_version): each version's lineage and whether it is the
    @champion now. The champion is the version of the newest promoted/rolled_back event. -#}

with history as (

    select * from {{ ref('stg_ml__model_version_history') }}

),

registered as (

    select * from history
    where event = 'registered'

),

champion_events as (

    select
        model_name,
        model_version,
        event,
        event_at,
        reason,
        row_number() over (
            partition by model_name order by event_at desc, model_version desc
        ) as newest_first
    from history
    where event in ('promoted', 'rolled_back')

),

current_champion as (

    select * from champion_events
    where newest_first = 1

),

promotions as (

    select
        model_name,
        model_version,
        count(*) as times_promoted,
        max(event_at) as last_promoted_at
    from champion_events
    group by model_name, model_version

)

-- Columns in the contract's order (the .yml), which sqlfluff's ST06 would reorder.
select  -- noqa: ST06
    registered.model_name,
    registered.model_version,
    registered.mlflow_run_id,
    registered.trained_at,
    registered.train_end,
    registered.feature_table,
    registered.feature_data_version,
    registered.dbt_checksum,
    registered.git_commit,
    registered.dagster_run_id as training_dagster_run_id,
    registered.backtest_metric_name,
    registered.backtest_metric,
    current_champion.model_version is not null as is_champion,
    current_champion.event_at as champion_since,
    current_champion.reason as champion_reason,
    cast(coalesce(promotions.times_promoted, 0) as integer) as times_promoted,
    cast(promotions.last_promoted_at as timestamp) as last_promoted_at
from registered
left join current_champion
    on
        registered.model_name = current_champion.model_name
        and registered.model_version = current_champion.model_version
left join promotions
    on
        registered.model_name = promotions.model_name
        and registered.model_version = promotions.model_version
