{#- Generic test: rows where the SQL expression is false fail. (dbt_utils.expression_is_true, which
    cannot be downloaded offline, written here.) -#}
{% test reform_expression_is_true(model, expression) %}
    select * from {{ model }} where not ({{ expression }})
{% endtest %}
