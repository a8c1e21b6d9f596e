{#- Parameters of the survey estimates (调查估计参数):

    reform_stats_survey_min_base()   the smallest unweighted base n an estimate is published for,
                                     var `survey_min_unweighted_base` (default 30); below it the
                                     estimate, its standard error, interval and sum of weights are
                                     null and `is_suppressed` is true
    reform_stats_survey_z()          the normal quantile of the two-sided 95 % interval, z(0.975) =
                                     1.959963984540054: estimate ± z × SE -#}
{% macro reform_stats_survey_min_base() -%}
    {{ var('survey_min_unweighted_base', 30) | int }}
{%- endmacro %}

{% macro reform_stats_survey_z() -%}
    1.959963984540054
{%- endmacro %}
