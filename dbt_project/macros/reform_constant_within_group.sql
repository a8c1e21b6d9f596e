{#- Generic test: within every non-null value of `group_column`, each of `columns` takes one single
    value, and the group has at least `min_rows` rows. Used for conflict groups: statements of the
    same target (same indicator, region and deadline) that disagree on the value. -#}
{% test reform_constant_within_group(model, group_column, columns, min_rows=1) %}
    select
        {{ group_column }},
        count(*) as n_rows
        {%- for column in columns %},
        count(distinct coalesce(cast({{ column }} as varchar), '<null>')) as n_{{ column }}
        {%- endfor %}

    from {{ model }}
    where {{ group_column }} is not null
    group by {{ group_column }}
    having count(*) < {{ min_rows }}
        {%- for column in columns %}
        or count(distinct coalesce(cast({{ column }} as varchar), '<null>')) > 1
        {%- endfor %}
{% endtest %}
