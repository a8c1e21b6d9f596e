-- Every accepted submission row with its version: a later file for the same unit, region, period
-- and indicator is a resubmission. Versions are numbered by receipt time (file hash breaks ties), so
-- the numbering is a pure function of the lake. The latest version is current; each version is
-- valid from its receipt until the next version's receipt (for as-of queries). The numbering is
-- macro reform_monitoring_versions, which an incremental fct_indicator_observation applies to the
-- touched histories only.
with

submissions as (

    select * from {{ ref('stg_lake__submissions') }}

),

final as (

    {{ reform_monitoring_versions('submissions') }}

)

select * from final
