{#- Grain: one row per feature table. The in-warehouse fingerprint the feature data version is
    made of: row count, time range and an order-independent content hash of every column. -#}

{%- set feature_columns = [
    'series_id', 'ts', 'value', 'is_filled', 'is_outlier', 'lag_1', 'lag_season',
    'rolling_mean_short', 'rolling_std_short', 'rolling_mean_season', 'rolling_std_season',
    'cal_year', 'cal_quarter', 'cal_month', 'cal_day_of_week', 'cal_hour'
] %}

with features as (

    select * from {{ ref('fct_training_features') }}

)

select
    cast('fct_training_features' as varchar) as feature_model,
    cast(count(*) as bigint) as row_count,
    cast(count(distinct series_id) as bigint) as series_count,
    cast(min(ts) as timestamp) as min_ts,
    cast(max(ts) as timestamp) as max_ts,
    cast(coalesce({{ row_hash_sum(row_text(feature_columns)) }}, '0') as varchar) as content_hash
from features
