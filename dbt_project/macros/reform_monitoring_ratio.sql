{#- A ratio indicator's value in percent, recomputed from its numerator and denominator figures
    (sum(numerator) / sum(denominator) × 100 over the same units, regions or periods) - never an
    average of percentages. Null when either part is unknown or the denominator is zero. -#}
{% macro reform_monitoring_ratio(numerator, denominator) -%}
    ({{ numerator }} / nullif({{ denominator }}, 0) * 100)
{%- endmacro %}
