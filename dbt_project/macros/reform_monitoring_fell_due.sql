{#- Whether `due_date` lies between the base release's as-of date and this build's, either way round:
    the expected submissions whose is_due differs between the two builds. The incremental roll-up and
    completeness recompute those rows. Usage: where {{ reform_monitoring_fell_due('expected.due_date', 'build.base_as_of_date') }} -#}
{% macro reform_monitoring_fell_due(due_date, base_as_of_date) -%}
    ({{ due_date }} >= least({{ base_as_of_date }}, {{ reform_monitoring_as_of_date() }})
        and {{ due_date }} < greatest({{ base_as_of_date }}, {{ reform_monitoring_as_of_date() }}))
{%- endmacro %}
