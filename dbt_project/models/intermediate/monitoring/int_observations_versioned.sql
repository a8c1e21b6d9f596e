-- Every accepted submission row with its version: a later file for the same unit, region, period
-- and indicator is a resubmission. Versions are numbered by receipt time (file hash breaks ties), so
-- the numbering is a pure function of the lake. The latest version is current; each version is
-- valid from its receipt until the next version's receipt (for as-of queries).
with

submissions as (

    select * from {{ ref('stg_lake__submissions') }}

),

versioned as (

    select
        *,
        row_number() over observation_versions as version,
        count(*) over observation_key as version_count,
        lead(received_at) over observation_versions as superseded_at

    from submissions
    window
        observation_key as (partition by reporting_unit_code, region_code, period_id, indicator_code),
        observation_versions as (
            partition by reporting_unit_code, region_code, period_id, indicator_code
            order by received_at, file_sha256
        )

),

final as (

    select
        *,
        version = version_count as is_current

    from versioned

)

select * from final
