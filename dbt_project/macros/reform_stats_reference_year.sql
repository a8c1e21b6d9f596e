{#- The reference year (统计年度) of a roster or record: the year the file states (`stated`, e.g. the
    reference_year column of enterprise rosters and worker records, or a survey's survey_year), else
    the calendar year in Asia/Shanghai in which the file was received, i.e. a roster that states no
    year describes the stock at the time it was sent. A roster received on 2025-12-31 17:00 UTC
    (01:00 on 1 January in Shanghai) that states no year belongs to 2026; one that states 2025 to 2025.

    reform_stats_reference_year(received_at)          the year of receipt in Shanghai
    reform_stats_reference_year(received_at, stated)  coalesce(stated, the year of receipt) -#}
{% macro reform_stats_reference_year(received_at, stated=none) -%}
    {%- if stated is not none -%}
    coalesce(cast({{ stated }} as integer), cast(year({{ reform_monitoring_local_date(received_at) }}) as integer))
    {%- else -%}
    cast(year({{ reform_monitoring_local_date(received_at) }}) as integer)
    {%- endif -%}
{%- endmacro %}
