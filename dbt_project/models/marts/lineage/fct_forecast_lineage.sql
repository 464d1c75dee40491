{#- Grain: one row per forecast row (series_id, model_name, forecast_origin, horizon_step):
    the forecast, the model version that made it, the data that version was trained on and the
    data the forecast conditioned on, and, for the rows published now (fct_forecasts_published:
    each series' newest forecast), whether the published number came from the model or from an
    analyst's override (who, why). What a BI user queries to trace any number. -#}

with forecasts as (

    select * from {{ ref('stg_ml__forecasts') }}

),

model_versions as (

    select * from {{ ref('dim_model_versions') }}

),

data_versions as (

    select * from {{ ref('stg_ml__feature_data_versions') }}

),

published as (

    select * from {{ ref('fct_forecasts_published') }}

)

select
    forecasts.series_id,
    forecasts.model_name,
    forecasts.forecast_origin,
    forecasts.horizon_step,
    forecasts.target_ts,
    forecasts.p10,
    forecasts.p50,
    forecasts.p90,
    forecasts.method,
    forecasts.created_at as forecast_created_at,
    forecasts.dagster_run_id as forecast_dagster_run_id,
    forecasts.model_version,
    forecasts.mlflow_run_id,
    cast(model_versions.trained_at as timestamp) as trained_at,
    cast(model_versions.git_commit as varchar) as git_commit,
    cast(model_versions.backtest_metric_name as varchar) as backtest_metric_name,
    cast(model_versions.backtest_metric as {{ type_double() }}) as backtest_metric,
    coalesce(model_versions.is_champion, false) as model_is_champion,
    cast(model_versions.feature_data_version as varchar) as training_data_version,
    cast(model_versions.dbt_checksum as varchar) as training_dbt_checksum,
    training_data.row_count as training_row_count,
    training_data.min_ts as training_min_ts,
    training_data.max_ts as training_max_ts,
    training_data.content_hash as training_content_hash,
    forecasts.feature_data_version as input_data_version,
    input_data.row_count as input_row_count,
    input_data.max_ts as input_max_ts,
    input_data.content_hash as input_content_hash,
    published.series_id is not null as is_published,
    cast(published.published_by as varchar) as published_by,
    cast(published.p10 as {{ type_double() }}) as published_p10,
    cast(published.p50 as {{ type_double() }}) as published_p50,
    cast(published.p90 as {{ type_double() }}) as published_p90,
    cast(published.override_id as varchar) as override_id,
    cast(published.override_author as varchar) as override_author,
    cast(published.override_reason as varchar) as override_reason,
    cast(published.override_created_at as timestamp) as override_created_at
from forecasts
left join model_versions
    on
        forecasts.model_name = model_versions.model_name
        and forecasts.model_version = model_versions.model_version
left join data_versions as training_data
    on model_versions.feature_data_version = training_data.data_version
left join data_versions as input_data
    on forecasts.feature_data_version = input_data.data_version
left join published
    on
        forecasts.series_id = published.series_id
        and forecasts.model_name = published.model_name
        and forecasts.forecast_origin = published.forecast_origin
        and forecasts.horizon_step = published.horizon_step
