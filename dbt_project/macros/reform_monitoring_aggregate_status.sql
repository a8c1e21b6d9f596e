{#- Observation status (SDMX OBS_STATUS) of an aggregate from its inputs: any masked input masks the
    aggregate (its value is unknown, not smaller); no value at all is missing; otherwise the weakest
    quality among the inputs - estimated before provisional before normal. `several_values` (optional)
    marks a non-additive figure reported by several units, which cannot be combined: not_applicable. -#}
{% macro reform_monitoring_aggregate_status(n_masked, value, n_estimated, n_provisional, several_values='false') -%}
    case
        when coalesce({{ n_masked }}, 0) > 0 then 'masked'
        when {{ several_values }} then 'not_applicable'
        when {{ value }} is null then 'missing'
        when coalesce({{ n_estimated }}, 0) > 0 then 'estimated'
        when coalesce({{ n_provisional }}, 0) > 0 then 'provisional'
        else 'normal'
    end
{%- endmacro %}
