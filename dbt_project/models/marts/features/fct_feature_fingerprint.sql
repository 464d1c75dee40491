{#- Grain: one row per feature table. The in-warehouse fingerprint the feature data version is
    made of: row count, time range and an order-independent content hash of every column,
    combined from the per-block hashes fct_feature_block_hashes keeps (Day N rehashes only the
    blocks that changed). -#}

with blocks as (

    select * from {{ ref('fct_feature_block_hashes') }}

)

select
    cast('fct_training_features' as varchar) as feature_model,
    cast(coalesce(sum(row_count), 0) as bigint) as row_count,
    cast(count(distinct series_id) as bigint) as series_count,
    cast(min(min_ts) as timestamp) as min_ts,
    cast(max(max_ts) as timestamp) as max_ts,
    cast(coalesce({{ combine_block_hashes('content_hash') }}, '0') as varchar) as content_hash
from blocks
