{#- Generic test: no two rows share the same values in all of `combination_of_columns` (the grain of a
    bridge or fact with a composite key). (dbt_utils.unique_combination_of_columns, which cannot be
    downloaded offline, written here.) -#}
{% test reform_unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns_csv = combination_of_columns | join(', ') %}
    select {{ columns_csv }}, count(*) as n_rows
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1
{% endtest %}
