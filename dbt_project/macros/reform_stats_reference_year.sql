{#- The reference year (统计年度) of a roster that carries none - enterprise rosters and worker records
    have no 统计年度 column (see ingest/microdata.py): the calendar year in Asia/Shanghai in which the
    file was received, i.e. a roster describes the stock at the time it was sent. A roster received
    on 2025-12-31 17:00 UTC (01:00 on 1 January in Shanghai) belongs to 2026. -#}
{% macro reform_stats_reference_year(received_at) -%}
    cast(year({{ reform_monitoring_local_date(received_at) }}) as integer)
{%- endmacro %}
