{#- Incremental builds (docs/reliability.md, "Day N"). Every incremental model keeps a loaded_at
    column: the load time of the raw rows behind the row (null on pure gap rows of the grid). Its
    maximum over the model is the model's watermark: the newest raw load it has processed. An
    incremental run takes the upstream rows loaded after it, so a model that missed a run (killed,
    failed) catches up on the next one. Loads must carry strictly increasing loaded_at (`warecast
    load --append` does); a replace load or changed vars needs `dbt build --full-refresh`, which
    orchestration/assets/dbt.py decides. -#}

{#- delete+insert on (series_id, <ts column>): the adapter's own strategy on DuckDB, PostgreSQL
    and Snowflake; rows are never deleted by an append, only replaced or added. On PostgreSQL the
    tables get btree indexes (created on a full build; dbt-postgres `indexes`) so an incremental
    run touches only the rows it needs: the key (the delete, the look-ups of rebuild_ranges,
    the look-back reads), loaded_at (the watermark and the rows loaded after it)
    and built_at (the data tests' rows, written_by_this_build), and a full build ends with
    ANALYZE so the planner sees the new table. -#}
{% macro incremental_config(time_column='ts', extra_keys=[], hooks=[]) -%}
    {%- set key = ['series_id', time_column] + extra_keys -%}
    {%- set config = {
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': key,
        'on_schema_change': 'fail',
        'pre_hook': hooks + ['{{ warecast.serialize_build() }}'],
    } -%}
    {%- if target.type == 'postgres' -%}
        {%- do config.update({
            'indexes': [{'columns': key}, {'columns': ['loaded_at']}, {'columns': ['built_at']}],
            'post_hook': ['{{ warecast.analyze_full_build() }}'],
        }) -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}

{#- PostgreSQL post-hook: fresh planner statistics after a full build (autovacuum would take its
    time), so the incremental runs after it plan index look-ups. -#}
{% macro analyze_full_build() -%}
    {%- if not is_incremental() -%}analyze {{ this }}{%- endif -%}
{%- endmacro %}

{#- The built_at column of the incremental models: when this dbt invocation started, the same
    value in every row it writes (a full build: every row). -#}
{% macro build_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- Data tests of the incremental models (.yml: `where: __written_by_this_build__`): under
    `dbt build` they check the rows this invocation wrote (built_at, above), so an incremental
    run tests its new and rebuilt rows, not the years before them, and a full refresh tests every
    row. delete+insert replaces stored rows by key, so a duplicate or null key can only come
    from the rows written. `dbt test` alone checks every row. Other `where` configs: dbt's own. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where == '__written_by_this_build__' -%}
        {%- if flags.WHICH in ['build', 'run'] -%}
            {%- set where = 'built_at = ' ~ build_stamp() -%}
        {%- else -%}
            {{ return(relation) }}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{#- A pre-hook, inside the model's transaction: two builds of the same model at once take turns.
    On PostgreSQL a transaction-scoped advisory lock, taken before the model reads its watermark,
    so the second build sees what the first committed (never both inserting the same keys).
    DuckDB allows one writing process; Snowflake: nothing here (run one build at a time). -#}
{% macro serialize_build() -%}
    {{ return(adapter.dispatch('serialize_build', 'warecast')()) }}
{%- endmacro %}

{% macro default__serialize_build() -%}{%- endmacro %}

{% macro postgres__serialize_build() -%}
    select pg_advisory_xact_lock(hashtext('warecast:{{ this }}'))
{%- endmacro %}

{#- is_incremental(), except under `dbt compile --no-introspect` (offline: it cannot look the
    table up), where the full-refresh SQL is compiled. -#}
{% macro incremental_run() -%}
    {%- if not flags.INTROSPECT -%}{{ return(false) }}{%- endif -%}
    {{ return(is_incremental()) }}
{%- endmacro %}

{#- The newest raw load this model already holds (a timestamp far in the past when empty), read
    when the model runs and pasted in as a literal: PostgreSQL then estimates `loaded_at > it`
    from its statistics and reads the new rows through the loaded_at index (a subquery's value
    is unknown to the planner, which then scans the table). The pre-hook's lock comes after this
    read: a build that waited for another re-reads rows the other already wrote, recomputes the
    same values and replaces them by key. -#}
{% macro watermark(column='loaded_at') -%}
    {%- if model.resource_type == 'unit_test' or not incremental_run() -%}
        {#- a unit test's `this` is its fixture, readable only inside the model's SQL; on a full
            build there is nothing to read (callers use the value on incremental runs only) -#}
        {{ return("(select coalesce(max(" ~ column ~ "), cast('1900-01-01 00:00:00' as timestamp)) from " ~ this ~ ")") }}
    {%- endif -%}
    {%- set newest = none -%}
    {%- if execute -%}
        {%- set found = run_query('select max(' ~ column ~ ') from ' ~ this) -%}
        {%- set newest = found.columns[0].values()[0] -%}
    {%- endif -%}
    {%- if newest is none -%}
        {{ return("cast('1900-01-01 00:00:00' as timestamp)") }}
    {%- endif -%}
    {%- if newest is string -%}{%- set newest = modules.datetime.datetime.fromisoformat(newest) -%}{%- endif -%}
    {{ return("cast('" ~ newest.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp)") }}
{%- endmacro %}

{#- Periods of history a feature row reads: lag_season, the rolling windows (cum[i] - cum[i - w])
    and the outlier test's previous outlier_window periods (cum[i - 1] - cum[i - 1 - n]). -#}
{% macro outlier_window() -%}
    {%- set n = var('outlier_window') -%}
    {%- if n is none -%}{%- set n = var('season_length') -%}{%- endif -%}
    {%- if n is not number or n < 2 -%}
        {{ exceptions.raise_compiler_error("var outlier_window must be a whole number >= 2 or null (= season_length), got '" ~ n ~ "'") }}
    {%- endif -%}
    {{ return(n | int) }}
{%- endmacro %}

{% macro feature_lookback() -%}
    {%- set season, short = var('season_length'), var('short_window') -%}
    {%- if season is not number or short is not number or season < 1 or short < 1 -%}
        {{ exceptions.raise_compiler_error("vars season_length and short_window must be whole numbers >= 1") }}
    {%- endif -%}
    {{ return([season | int, short | int, outlier_window() + 1] | max) }}
{%- endmacro %}

{#- The running sums behind the rolling statistics restart at every block of feature_block()
    periods, counted from a fixed anchor (1900-01-01, a Monday), and each block re-reads the
    feature_lookback() periods before it. A row's statistics then depend only on its block and
    that look-back, never on where a build started reading: an incremental build computes the
    same doubles as a full refresh, bit for bit (same engine). Four look-backs per block: the
    full build reads a quarter more rows; Day N re-reads about two look-backs per series. -#}
{% macro feature_block() -%}
    {{ return(4 * feature_lookback()) }}
{%- endmacro %}

{% macro period_number(column) -%}
    {{ dbt.datediff("cast('1900-01-01 00:00:00' as timestamp)", column, grain()) }}
{%- endmacro %}

{#- The first period of block `block_id` (an SQL expression), less `before` periods. -#}
{% macro block_start(block_id, before='0') -%}
    {{ dbt.dateadd(grain(), '(' ~ block_id ~ ') * ' ~ feature_block() ~ ' - (' ~ before ~ ')',
        "cast('1900-01-01 00:00:00' as timestamp)") }}
{%- endmacro %}

{#- Block of a period number; floor, not integer division, so earlier periods count down. -#}
{% macro block_of(period_number) -%}
    cast(floor(cast({{ period_number }} as {{ type_double() }}) / {{ feature_block() }}) as bigint)
{%- endmacro %}

{#- The grid rows to rebuild for each run of changed periods, for a model over a dense
    per-series grid `relation`. `changed` has (series_id, from_ts, to_ts): runs of consecutive
    changed periods. A run's rows and the gap rows around it depend on it: from the last
    observed period before it (it seeds the forward fill; the series' first period if none) to
    the first observed period after it (where the fill restarts; the series' last period if
    none). A late correction thus rebuilds a few rows, not its series to the end. A full refresh
    passes one run per series, from its first period to its last. -#}
{% macro rebuild_ranges(relation, changed, time_column, is_observed) -%}
    {{ return(adapter.dispatch('rebuild_ranges', 'warecast')(relation, changed, time_column, is_observed)) }}
{%- endmacro %}

{% macro default__rebuild_ranges(relation, changed, time_column, is_observed) -%}
    select
        c.series_id,
        coalesce(
            max(case when r.{{ time_column }} < c.from_ts and {{ is_observed }} then r.{{ time_column }} end),
            min(r.{{ time_column }})
        ) as start_ts,
        coalesce(
            min(case when r.{{ time_column }} > c.to_ts and {{ is_observed }} then r.{{ time_column }} end),
            max(r.{{ time_column }})
        ) as end_ts
    from {{ relation }} as r
    inner join {{ changed }} as c on r.series_id = c.series_id
    group by c.series_id, c.from_ts
{%- endmacro %}

{#- PostgreSQL: the same values per run as look-ups in the (series_id, time) index, not an
    aggregate over every row of every changed series (Day N changes them all). Snowflake rejects
    correlated subqueries with a non-equality condition, hence the dispatch. -#}
{% macro postgres__rebuild_ranges(relation, changed, time_column, is_observed) -%}
    select
        c.series_id,
        coalesce(
            (
                select max(r.{{ time_column }}) from {{ relation }} as r
                where r.series_id = c.series_id and r.{{ time_column }} < c.from_ts and {{ is_observed }}
            ),
            (select min(r.{{ time_column }}) from {{ relation }} as r where r.series_id = c.series_id)
        ) as start_ts,
        coalesce(
            (
                select min(r.{{ time_column }}) from {{ relation }} as r
                where r.series_id = c.series_id and r.{{ time_column }} > c.to_ts and {{ is_observed }}
            ),
            (select max(r.{{ time_column }}) from {{ relation }} as r where r.series_id = c.series_id)
        ) as end_ts
    from {{ changed }} as c
{%- endmacro %}

{#- Runs of consecutive periods among `periods` (series_id, <time_column>): (series_id, from_ts,
    to_ts), one row per run (gaps and islands: a run's periods keep period number minus rank). -#}
{% macro period_runs(periods, time_column) -%}
    select
        series_id,
        min({{ time_column }}) as from_ts,
        max({{ time_column }}) as to_ts
    from (
        select
            series_id,
            {{ time_column }},
            {{ period_number(time_column) }}
            - row_number() over (partition by series_id order by {{ time_column }}) as run_id
        from {{ periods }}
    ) as numbered
    group by series_id, run_id
{%- endmacro %}

{#- A filter that applies on incremental runs only (`true` on a full refresh): written as one
    expression, so the SQL has the same shape, and the same layout, in both builds. -#}
{% macro on_incremental_run(condition) -%}
    {%- if incremental_run() -%}({{ condition }}){%- else -%}true{%- endif -%}
{%- endmacro %}

{#- The feature blocks to rebuild: (series_id, block_id) for every block holding a row of the
    grid `relation` built after this model's watermark (built_at: it also marks the gap rows a
    change refilled, which carry no loaded_at), and the block after it when the row lies in the
    look-back that block re-reads: the block of the period feature_lookback() later (the
    look-back is shorter than a block). fct_training_features rebuilds exactly these blocks,
    whole; fct_feature_block_hashes rehashes them. -#}
{% macro rebuild_blocks(relation) -%}
    {%- set changed -%}
        (
            select
                series_id,
                {{ period_number('ts') }} as period_number
            from {{ relation }}
            where built_at > {{ watermark('built_at') }}
        ) as changed
    {%- endset %}
    select
        series_id,
        {{ block_of('period_number') }} as block_id
    from {{ changed }}
    union
    select
        series_id,
        {{ block_of('period_number + ' ~ feature_lookback()) }} as block_id
    from {{ changed }}
{%- endmacro %}
