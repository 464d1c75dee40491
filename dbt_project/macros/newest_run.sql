{#- The rows of each pipeline's newest run in `rows` (a CTE with pipeline and created_at, e.g. a
    backtest's summary): what every leaderboard means by "the latest backtest". -#}
{% macro newest_run_rows(rows) -%}
    select {{ rows }}.*
    from {{ rows }}
    inner join (
        select
            pipeline,
            max(created_at) as created_at
        from {{ rows }}
        group by pipeline
    ) as newest_run
        on
            {{ rows }}.pipeline = newest_run.pipeline
            and {{ rows }}.created_at = newest_run.created_at
{%- endmacro %}
