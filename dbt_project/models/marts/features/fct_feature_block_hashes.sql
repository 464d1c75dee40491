{#- Grain: one row per (series_id, block_id): the content hash of the feature rows of one block of
    feature_block() periods (macros/incremental.sql) of one series. fct_feature_fingerprint
    combines them into the feature data version. Incremental: rehashes the blocks
    fct_training_features wrote after this model's watermark (built_at); it writes blocks whole,
    so those rows are every row of each block to rehash. -#}
{{ config(**incremental_config('block_id')) }}

{#- The feature table is named where it is read, not in an import CTE: PostgreSQL materializes a
    CTE read more than once, and then uses none of its indexes. -#}
{%- set features = ref('fct_training_features') %}

with

rows_read as (

    select * from {{ features }}
    where {{ on_incremental_run('built_at > ' ~ watermark('built_at')) }}

),

blocked as (

    select
        *,
        {{ block_of(period_number('ts')) }} as block_id
    from rows_read

)

select
    series_id,
    block_id,
    cast(count(*) as bigint) as row_count,
    min(ts) as min_ts,
    max(ts) as max_ts,
    {{ block_hash(row_text(feature_fingerprint_columns())) }} as content_hash,
    max(loaded_at) as loaded_at,
    {{ build_stamp() }} as built_at
from blocked
group by series_id, block_id
