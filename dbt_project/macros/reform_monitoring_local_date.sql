{#- The calendar date in Asia/Shanghai of a UTC timestamp stored without a time zone (received_at,
    valid_from, …): due dates are Shanghai dates, so a file received at 2025-03-01 17:30 UTC arrived
    on 2025-03-02 in Shanghai. -#}
{% macro reform_monitoring_local_date(utc_timestamp) -%}
    cast(timezone('Asia/Shanghai', timezone('UTC', {{ utc_timestamp }})) as date)
{%- endmacro %}
