{#- An order-independent content hash of a set of rows, in two levels so Day N rehashes only what
    changed: block_hash over the rows of one (series, block) of the feature table, then
    combine_block_hashes over the blocks. Each row's text is hashed to an integer and the integers
    are summed, so any row order and any split into blocks give the same value and any changed
    value changes it. Hash functions differ per engine, so the value is only comparable on one
    adapter (a data version belongs to one warehouse). `row_text` is a varchar expression per row. -#}

{#- The columns the feature data version covers (not loaded_at: reloading equal values leaves
    the data, and so its version, unchanged). -#}
{% macro feature_fingerprint_columns() -%}
    {{ return([
        'series_id', 'ts', 'value', 'is_filled', 'is_outlier', 'lag_1', 'lag_season',
        'rolling_mean_short', 'rolling_std_short', 'rolling_mean_season', 'rolling_std_season',
        'cal_year', 'cal_quarter', 'cal_month', 'cal_day_of_week', 'cal_hour'
    ]) }}
{%- endmacro %}

{% macro block_hash(row_text) -%}
    {{ return(adapter.dispatch('block_hash', 'warecast')(row_text)) }}
{%- endmacro %}

{% macro combine_block_hashes(column) -%}
    {{ return(adapter.dispatch('combine_block_hashes', 'warecast')(column)) }}
{%- endmacro %}

{#- md5's first 64 bits as a signed bigint, summed as exact numeric (no overflow). -#}
{% macro default__block_hash(row_text) -%}
    sum(cast(cast(('x' || substr(md5({{ row_text }}), 1, 16)) as bit(64)) as bigint))
{%- endmacro %}

{% macro default__combine_block_hashes(column) -%}
    cast(sum({{ column }}) as varchar)
{%- endmacro %}

{#- DuckDB's hash() is a 64-bit unsigned hash; the sums are hugeints. -#}
{% macro duckdb__block_hash(row_text) -%}
    sum(cast(hash({{ row_text }}) as hugeint))
{%- endmacro %}

{#- Snowflake's hash_agg is its own order-independent aggregate hash. fakesnow has no hash_agg:
    under it only (WARECAST_FAKESNOW=1, docs/scaling.md), an md5 over the sorted row (then block)
    hashes stands in. -#}
{% macro snowflake__block_hash(row_text) -%}
    {%- if env_var('WARECAST_FAKESNOW', '') == '1' -%}
        md5(listagg(md5({{ row_text }}), '') within group (order by md5({{ row_text }})))
    {%- else -%}
        hash_agg({{ row_text }})
    {%- endif -%}
{%- endmacro %}

{% macro snowflake__combine_block_hashes(column) -%}
    {%- if env_var('WARECAST_FAKESNOW', '') == '1' -%}
        md5(listagg({{ column }}, '') within group (order by {{ column }}))
    {%- else -%}
        cast(hash_agg({{ column }}) as varchar)
    {%- endif -%}
{%- endmacro %}

{#- One varchar per row: every column as text, nulls spelled out so null and '' differ. -#}
{% macro row_text(columns) -%}
    {%- for column in columns -%}
        coalesce(cast({{ column }} as varchar), '<null>')
        {%- if not loop.last %} || '|' || {% endif -%}
    {%- endfor -%}
{%- endmacro %}
