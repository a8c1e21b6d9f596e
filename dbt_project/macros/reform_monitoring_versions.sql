{#- Submission rows of `relation` (a CTE or relation with the columns of stg_lake__submissions) with
    their version per unit × region × period × indicator: numbered by receipt time, file hash breaking
    ties, so the numbering is a pure function of the lake. The latest version is current; each version
    is valid from its receipt until the next version's receipt (superseded_at). The window must see
    whole histories: filter `relation` by history key, never by file. int_observations_versioned numbers
    every history; an incremental fct_indicator_observation only the touched ones, filtered before the
    window (a filter after it makes DuckDB number all ten million rows at province scale). -#}
{% macro reform_monitoring_versions(relation) -%}
    select
        *,
        row_number() over observation_versions as version,
        count(*) over observation_key as version_count,
        lead(received_at) over observation_versions as superseded_at,
        row_number() over observation_versions = count(*) over observation_key as is_current

    from {{ relation }}
    window
        observation_key as (partition by reporting_unit_code, region_code, period_id, indicator_code),
        observation_versions as (
            partition by reporting_unit_code, region_code, period_id, indicator_code
            order by received_at, file_sha256
        )
{%- endmacro %}
