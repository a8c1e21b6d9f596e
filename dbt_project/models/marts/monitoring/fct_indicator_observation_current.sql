-- The current figures: the latest version of every submitted value (one row per indicator × region ×
-- period × reporting unit). A view over fct_indicator_observation, so it is never out of step with it.
-- What was known as of an earlier instant D is the as-of predicate on fct_indicator_observation:
--   valid_from <= D and (valid_to is null or valid_to > D)     (macro reform_monitoring_as_of)
{{ config(materialized='view') }}

with

observations as (

    select * from {{ ref('fct_indicator_observation') }}

),

final as (

    select
        observation_id,
        indicator_code,
        region_code,
        period_id,
        reporting_unit_code,
        value,
        unit,
        obs_status,
        version,
        received_at,
        valid_from,
        note,
        file_sha256,
        file_name,
        source_sheet,
        source_row_number

    from observations
    where is_current

)

select * from final
