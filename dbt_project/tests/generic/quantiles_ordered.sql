{% test quantiles_ordered(model, low='p10', mid='p50', high='p90') %}
    select *
    from {{ model }}
    where not ({{ low }} <= {{ mid }} and {{ mid }} <= {{ high }})
{% endtest %}
