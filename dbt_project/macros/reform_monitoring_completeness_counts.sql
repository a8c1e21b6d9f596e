{#- The DHIS2-style counts of expected submissions (fct_reporting_completeness rows) in a group:
    expected, submitted, on time, late (submitted after the due date) and missing. `from` qualifies the
    columns when the model joins other relations. -#}
{% macro reform_monitoring_completeness_counts(from='') -%}
    {%- set c = from ~ '.' if from else '' -%}
        count(*) as n_expected,
        count(*) filter (where {{ c }}is_submitted) as n_submitted,
        count(*) filter (where {{ c }}is_on_time) as n_on_time,
        count(*) filter (where {{ c }}is_submitted and not {{ c }}is_on_time) as n_late,
        count(*) filter (where not {{ c }}is_submitted) as n_missing
{%- endmacro %}
