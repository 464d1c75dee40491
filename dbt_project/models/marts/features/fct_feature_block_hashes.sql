{#- Grain: one row per (series_id, block_id): the content hash of the feature rows of one block of
    feature_block() periods (macros/incremental.sql) of one series. fct_feature_fingerprint
    combines them into the feature data version. Incremental: rehashes the blocks from the one
    holding the last observed period before a change, as fct_training_features rebuilds them. -#}
{{ config(**incremental_config('block_id')) }}

{#- The feature table is named where it is read, not in an import CTE: PostgreSQL materializes a
    CTE read more than once, and then uses none of its indexes. -#}
{%- set features = ref('fct_training_features') %}

with

{% if incremental_run() %}
    first_blocks as (

        {{ first_rebuild_blocks(features) }}

    ),

    rows_read as (

        select features.*
        from {{ features }} as features
        inner join first_blocks
            on
                features.series_id = first_blocks.series_id
                and features.ts
                >= {{ dbt.dateadd(grain(), 'first_blocks.first_block * ' ~ feature_block(),
                "cast('1900-01-01 00:00:00' as timestamp)") }}

    ),
{% else %}
    rows_read as (

        select * from {{ features }}

    ),
{% endif %}

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
