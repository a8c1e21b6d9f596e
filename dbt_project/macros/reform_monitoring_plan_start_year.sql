{#- First year of the plan period a target belongs to, by source document (var `plan_start_years`,
    document file name → year). Cumulative targets (累计/新增 … by the deadline) count from the start
    of this year. Defaults: the Lijiang 14th five-year plan (001) runs 2021-2025; the Heilongjiang
    2017 implementation opinion (003) sets 2020 targets and its units report from 2018 (the reporting
    obligations start then); the 2024 national opinion (000, 002) sets 2035 targets from 2024.
    Unknown documents: the five years ending at the deadline. -#}
{% macro reform_monitoring_plan_start_year(source_document, deadline_year) -%}
    {%- set default_starts = {
        '001_bd421a37b0aab61e.txt': 2021,
        '003_03cbcd3f59cb989a.txt': 2018,
        '000_e99ee91a4b6423bc.txt': 2024,
        '002_5b97c148db488248.txt': 2024,
    } -%}
    {%- set starts = var('plan_start_years', default_starts) -%}
    case {{ source_document }}
        {%- for document, year in starts.items() %}
        when '{{ document }}' then {{ year }}
        {%- endfor %}
        else {{ deadline_year }} - 4
    end
{%- endmacro %}
