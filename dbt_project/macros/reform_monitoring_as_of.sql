{#- The as-of predicate of the versioned facts: the version of a figure that was the known figure at
    instant `ts` (a SQL expression: a literal, a column or a bind) is the one with
        valid_from <= ts and (valid_to is null or valid_to > ts)
    i.e. received at or before ts and not yet replaced by a resubmission at ts. valid_from and
    valid_to are UTC, so ts must be a UTC timestamp. `relation` qualifies the columns when the query
    joins several tables. Usage in an analyst's model:
        select * from {{ ref('fct_indicator_observation') }} as o
        where {{ reform_monitoring_as_of("timestamp '2025-03-01 00:00:00'", 'o') }} -#}
{% macro reform_monitoring_as_of(ts, relation=none) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    ({{ prefix }}valid_from <= {{ ts }} and ({{ prefix }}valid_to is null or {{ prefix }}valid_to > {{ ts }}))
{%- endmacro %}
