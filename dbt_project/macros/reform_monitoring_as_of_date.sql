{#- The date monitoring is judged at: an expected submission counts as expected once its due date has
    ended before this date, and target progress is assessed with the data of the years up to its year.
    In order: var `as_of_date` ('YYYY-MM-DD'); else env REFORM_AS_OF_DATE, which the pipeline fixes
    once per build (`ingest.warehouse.build_as_of_date`), so that every model of one build is judged at
    the same date even when the build runs across midnight; else today's date in Asia/Shanghai, where
    due dates are set (the nightly build runs at 02:00 Shanghai time, still the previous day in UTC). -#}
{% macro reform_monitoring_as_of_date() -%}
    {%- set as_of_date = var('as_of_date', none) -%}
    {%- if as_of_date is none or as_of_date | string | trim == '' -%}
        {%- set as_of_date = env_var('REFORM_AS_OF_DATE', '') -%}
    {%- endif -%}
    {%- if as_of_date | string | trim == '' -%}
        cast(timezone('Asia/Shanghai', now()) as date)
    {%- else -%}
        cast('{{ as_of_date | string | trim }}' as date)
    {%- endif -%}
{%- endmacro %}
