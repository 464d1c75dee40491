{#- Speed helpers for the feature SQL: same results on every adapter, PostgreSQL-specific forms
    where its executor needs them (docs/benchmarks.md has the measurements). -#}

{#- The window for lag() next to running sums over `running_window`. lag ignores frames, but
    PostgreSQL runs one WindowAgg node per distinct window clause: giving the lags the running
    sums' frame lets one node compute both (8.76M rows: 32 s -> 26 s). Snowflake's documented LAG
    syntax has no frame clause (not tried against it), so elsewhere the lags keep the plain
    ordering. -#}
{% macro lag_window(ordering, running_window) -%}
    {{ return(adapter.dispatch('lag_window', 'warecast')(ordering, running_window)) }}
{%- endmacro %}

{% macro default__lag_window(ordering, running_window) -%}{{ ordering }}{%- endmacro %}

{% macro postgres__lag_window(ordering, running_window) -%}{{ running_window }}{%- endmacro %}

{#- An integer calendar field of a timestamp. PostgreSQL's extract() returns numeric (slow to
    compute and to cast); date_part() returns double precision (8.76M rows: 26 s -> 24 s). -#}
{% macro calendar_part(part, column) -%}
    {{ return(adapter.dispatch('calendar_part', 'warecast')(part, column)) }}
{%- endmacro %}

{% macro default__calendar_part(part, column) -%}
    cast(extract({{ part }} from {{ column }}) as integer)
{%- endmacro %}

{% macro postgres__calendar_part(part, column) -%}
    cast(date_part('{{ part }}', {{ column }}) as integer)
{%- endmacro %}

{#- A pre-hook for models that sort millions of rows: PostgreSQL's default work_mem (4 MB) sends
    every such sort to disk. `set local` lasts until the model's transaction ends; var
    postgres_work_mem sets the size (what the server may spend per sort or hash, per query). -#}
{% macro sort_memory() -%}
    {{ return(adapter.dispatch('sort_memory', 'warecast')()) }}
{%- endmacro %}

{% macro default__sort_memory() -%}{%- endmacro %}

{% macro postgres__sort_memory() -%}
    {%- set size = var('postgres_work_mem') | string -%}
    {%- if not modules.re.match('^[0-9]{1,6}(kB|MB|GB)$', size) -%}
        {{ exceptions.raise_compiler_error("var postgres_work_mem must look like 256MB (a number and kB, MB or GB), got '" ~ size ~ "'") }}
    {%- endif -%}
    set local work_mem = '{{ size }}'
{%- endmacro %}

{#- True where last_value(x ignore nulls) forward-fills in one window: DuckDB (8.76M rows:
    7.3 s -> 3.2 s, same rows). PostgreSQL has no IGNORE NULLS. Snowflake has it (written
    last_value(x) ignore nulls over ...), untried here on fakesnow, so Snowflake keeps the
    two-window fill-group form for now. -#}
{% macro ignore_nulls_fill() -%}
    {{ return(adapter.dispatch('ignore_nulls_fill', 'warecast')()) }}
{%- endmacro %}

{% macro default__ignore_nulls_fill() -%}{{ return(false) }}{%- endmacro %}

{% macro duckdb__ignore_nulls_fill() -%}{{ return(true) }}{%- endmacro %}
