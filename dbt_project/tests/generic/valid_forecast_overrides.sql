{#- Analyst overrides warecast cannot apply (marts.dim_forecast_overrides: `problem` is set).
    Any row fails `dbt build`. dbt itself prints only the test's name and the count, so under
    `dbt build`/`dbt test` each offending row is also logged, named by its override_id, with what
    to fix (docs/analysts.md). Only on those commands: `dbt compile` and `dbt docs generate` must
    not read the warehouse. -#}
{% test valid_forecast_overrides(model, id_column='override_id', problem_column='problem') %}
    {%- set problems -%}
    select {{ id_column }} as override_id, {{ problem_column }} as problem
    from {{ model }}
    where {{ problem_column }} is not null
    {%- endset -%}
    {%- if execute and flags.WHICH in ('build', 'test', 'retry') -%}
        {%- for row in run_query(problems).rows -%}
            {{ log("forecast_overrides.csv: override_id '" ~ (row[0] or '') ~ "': " ~ row[1], info=True) }}
        {%- endfor -%}
    {%- endif -%}
    {{ problems }}
{% endtest %}
