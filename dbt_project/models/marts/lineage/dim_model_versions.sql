{#- Grain: one row per (model_name, model_version): each version's lineage and whether it is the
    @champion now. The champion is the version of the newest promoted/rolled_back event. -#}

with history as (

    select * from {{ source('ml', 'model_version_history') }}

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

select
    cast(registered.model_name as varchar) as model_name,
    cast(registered.model_version as varchar) as model_version,
    cast(registered.mlflow_run_id as varchar) as mlflow_run_id,
    cast(registered.trained_at as timestamp) as trained_at,
    cast(registered.train_end as timestamp) as train_end,
    cast(registered.feature_table as varchar) as feature_table,
    cast(registered.feature_data_version as varchar) as feature_data_version,
    cast(registered.dbt_checksum as varchar) as dbt_checksum,
    cast(registered.git_commit as varchar) as git_commit,
    cast(registered.dagster_run_id as varchar) as training_dagster_run_id,
    cast(registered.backtest_metric_name as varchar) as backtest_metric_name,
    cast(registered.backtest_metric as {{ type_double() }}) as backtest_metric,
    current_champion.model_version is not null as is_champion,
    cast(current_champion.event_at as timestamp) as champion_since,
    cast(current_champion.reason as varchar) as champion_reason,
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
