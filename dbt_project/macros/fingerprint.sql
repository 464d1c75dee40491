{#- An order-independent content hash of a set of rows: each row's text is hashed to an integer
    and the integers are summed, so any row order gives the same value and any changed value
    changes it. Hash functions differ per engine, so the value is only comparable on one adapter
    (a data version belongs to one warehouse). `row_text` is a varchar expression per row. -#}
{% macro row_hash_sum(row_text) -%}
    {{ return(adapter.dispatch('row_hash_sum', 'warecast')(row_text)) }}
{%- endmacro %}

{#- md5's first 64 bits as a signed bigint, summed as exact numeric (no overflow). -#}
{% macro default__row_hash_sum(row_text) -%}
    cast(sum(cast(cast(('x' || substr(md5({{ row_text }}), 1, 16)) as bit(64)) as bigint)) as varchar)
{%- endmacro %}

{% macro postgres__row_hash_sum(row_text) -%}
    {{ warecast.default__row_hash_sum(row_text) }}
{%- endmacro %}

{#- DuckDB's hash() is a 64-bit unsigned hash; the sum is a hugeint. -#}
{% macro duckdb__row_hash_sum(row_text) -%}
    cast(sum(cast(hash({{ row_text }}) as hugeint)) as varchar)
{%- endmacro %}

{#- Snowflake's hash_agg is its own order-independent aggregate hash. -#}
{% macro snowflake__row_hash_sum(row_text) -%}
    {#- fakesnow has no hash_agg: under it only (WARECAST_FAKESNOW=1, docs/scaling.md), an
        order-independent md5 over the sorted row hashes stands in. -#}
    {%- if env_var('WARECAST_FAKESNOW', '') == '1' -%}
        md5(listagg(md5({{ row_text }}), '') within group (order by md5({{ row_text }})))
    {%- else -%}
        cast(hash_agg({{ row_text }}) as varchar)
    {%- endif -%}
{%- endmacro %}

{#- One varchar per row: every column as text, nulls spelled out so null and '' differ. -#}
{% macro row_text(columns) -%}
    {%- for column in columns -%}
        coalesce(cast({{ column }} as varchar), '<null>')
        {%- if not loop.last %} || '|' || {% endif -%}
    {%- endfor -%}
{%- endmacro %}
