{% test between_zero_and_one(model, column_name) %}
    select * from {{ model }} where not ({{ column_name }} between 0 and 1)
{% endtest %}
