{#- Disclosure control of counts published from microdata (统计数据发布保密规则), the threshold rule:
    a count of 1 to k - 1 persons or enterprises could point at someone, so it is suppressed - the
    value is null and the row's `is_suppressed` is true, never a zero. k is var `stats_disclosure_k`
    (default 5; Eurostat and ONS threshold rules use 3 to 10). A true zero is published: nobody can be
    identified in an empty cell. A share is suppressed with its numerator when the numerator, the
    denominator or their difference (the complement, e.g. the non-migrant workers) is a small count,
    so no small count can be derived from a published row. That is primary suppression; the
    skill-grade pyramid and the worker shares also withhold complementary cells, so that no small
    count can be recovered from the published sums (int_worker_counts_suppressed one sum at a time,
    then int_worker_counts_audited all of them together), and so do the trainings, certifications,
    wages and enterprise shares (int_statistics_cells_audited); the craftsmen apply this threshold
    rule only.

    reform_stats_disclosure_k()          the threshold k, an integer
    reform_stats_is_small(count)         true when 1 <= count <= k - 1
    reform_stats_suppress(value, hide)   the value, or null when `hide` is true -#}
{% macro reform_stats_disclosure_k() -%}
    {{ var('stats_disclosure_k', 5) | int }}
{%- endmacro %}

{% macro reform_stats_is_small(count) -%}
    coalesce({{ count }} between 1 and {{ reform_stats_disclosure_k() }} - 1, false)
{%- endmacro %}

{% macro reform_stats_suppress(value, hide) -%}
    case when {{ hide }} then null else {{ value }} end
{%- endmacro %}
