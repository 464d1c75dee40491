{#- Grain: one row per (model_name, model_version, event, event_at): an event in a model version's history.
    ml.model_version_history (written by Dagster) cast once to its types; the marts read this view. -#}

with source as (

    select * from {{ source('ml', 'model_version_history') }}

)

select
    cast(model_name as varchar) as model_name,
    cast(model_version as varchar) as model_version,
    cast(event as varchar) as event,
    cast(event_at as timestamp) as event_at,
    cast(reason as varchar) as reason,
    cast(mlflow_run_id as varchar) as mlflow_run_id,
    cast(trained_at as timestamp) as trained_at,
    cast(train_end as timestamp) as train_end,
    cast(feature_table as varchar) as feature_table,
    cast(feature_data_version as varchar) as feature_data_version,
    cast(dbt_checksum as varchar) as dbt_checksum,
    cast(git_commit as varchar) as git_commit,
    cast(dagster_run_id as varchar) as dagster_run_id,
    cast(backtest_metric_name as varchar) as backtest_metric_name,
    cast(backtest_metric as {{ type_double() }}) as backtest_metric
from source
