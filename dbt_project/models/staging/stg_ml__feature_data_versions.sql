{#- Grain: one row per data_version: a feature data version a training or forecast run used.
    ml.feature_data_versions (written by Dagster) cast once to its types; the marts read this view. -#}

with source as (

    select * from {{ source('ml', 'feature_data_versions') }}

)

select
    cast(data_version as varchar) as data_version,
    cast(feature_table as varchar) as feature_table,
    cast(row_count as bigint) as row_count,
    cast(series_count as bigint) as series_count,
    cast(min_ts as timestamp) as min_ts,
    cast(max_ts as timestamp) as max_ts,
    cast(content_hash as varchar) as content_hash,
    cast(dbt_checksum as varchar) as dbt_checksum,
    cast(recorded_at as timestamp) as recorded_at
from source
