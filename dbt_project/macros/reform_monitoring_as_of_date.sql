{#- The date monitoring is judged at (var `as_of_date`, 'YYYY-MM-DD'): an expected submission counts as
    expected once its due date has ended before this date, and target progress is assessed with the
    data of the years up to its year. Default: today's date in Asia/Shanghai, where due dates are
    set (the nightly build runs at 02:00 Shanghai time, still the previous day in UTC). -#}
{% macro reform_monitoring_as_of_date() -%}
    {%- set as_of_date = var('as_of_date', none) -%}
    {%- if as_of_date is none or as_of_date | string | trim == '' -%}
        cast(timezone('Asia/Shanghai', now()) as date)
    {%- else -%}
        cast('{{ as_of_date }}' as date)
    {%- endif -%}
{%- endmacro %}
