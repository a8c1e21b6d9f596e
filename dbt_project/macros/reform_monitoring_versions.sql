{#- Submission rows of `relation` (a CTE or relation with the columns of stg_lake__submissions) with
    their version per unit × region × period × indicator: numbered by receipt time, file hash breaking
    ties, so the numbering is a pure function of the lake. The latest version is current; each version
    is valid from its receipt until the next version's receipt (superseded_at). The window must see
    whole histories: filter `relation` by history key, never by file. int_observations_versioned numbers
    every history; an incremental fct_indicator_observation only the touched ones, filtered before the
    window (a filter after it makes DuckDB number all ten million rows at province scale).
    Only the histories of more than one row go through the window (reform_repeated_keys finds them);
    a history of one row is version 1, current, never superseded. At province scale most histories
    have one row: the window sorted ten million rows by four text columns, and now sorts the few
    resubmitted ones. -#}
{% macro reform_monitoring_versions(relation) -%}
    {%- set history = ['reporting_unit_code', 'region_code', 'period_id', 'indicator_code'] -%}
    with

    {{ reform_repeated_keys(relation, history) }},

    versioned as (

        select
            * exclude (_key_hash),
            row_number() over observation_versions as version,
            count(*) over observation_key as version_count,
            lead(received_at) over observation_versions as superseded_at,
            row_number() over observation_versions = count(*) over observation_key as is_current

        from keyed
        semi join repeated_keys using (_key_hash)
        window
            observation_key as (partition by {{ history | join(', ') }}),
            observation_versions as (
                partition by {{ history | join(', ') }}
                order by received_at, file_sha256
            )

    )

    select
        * exclude (_key_hash),
        cast(1 as bigint) as version,
        cast(1 as bigint) as version_count,
        case when false then received_at end as superseded_at,
        true as is_current

    from keyed
    anti join repeated_keys using (_key_hash)

    union all

    select * from versioned
{%- endmacro %}
