-- One row per submitted value and version: indicator × region × period × reporting unit × version.
-- `is_current` marks the latest version; `valid_from`/`valid_to` say what was known when, so
-- "as of" a date D is: valid_from <= D and (valid_to is null or valid_to > D).
-- In the national roll-up of a build sharded by province (macro reform_reads_shards) the rows are the
-- provinces' own rows, unchanged: a version history is keyed by unit, region, period and indicator,
-- and all rows of a region are in one province, so every history was numbered whole in one shard.
{#- Incremental (`reform build --incremental` starts from the published release): the version histories
    that tonight's files (stg_build__added_files, recorded by the build's preparation) touched are
    numbered again, whole, and replace their rows (delete+insert on the history's key); the others
    are untouched. Files only ever add rows between full builds (a changed
    or removed lake file makes `reform build` a full build, see ingest/incremental.py), so this equals
    a full build. A fresh build file has no table: a full build. -#}
-- depends_on: {{ ref('stg_lake__submissions') }}
-- depends_on: {{ ref('stg_build__added_files') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['reporting_unit_code', 'region_code', 'period_id', 'indicator_code'],
    on_schema_change='fail',
) }}

{% if reform_reads_shards() %}

select * from {{ source('shards', 'fct_indicator_observation') }}

{% else %}

with

{% if is_incremental() %}
touched_histories as (

    select distinct reporting_unit_code, region_code, period_id, indicator_code
    from {{ ref('stg_lake__submissions') }}
    semi join {{ ref('stg_build__added_files') }} using (file_sha256)

),

-- their rows, whole histories, filtered before the window (macro reform_monitoring_versions)
touched_submissions as (

    select * from {{ ref('stg_lake__submissions') }}
    semi join touched_histories using (reporting_unit_code, region_code, period_id, indicator_code)

),

observations as (

    {{ reform_monitoring_versions('touched_submissions') }}

),
{% else %}
observations as (

    select * from {{ ref('int_observations_versioned') }}

),
{% endif %}

final as (

    select
        md5(concat_ws('|', reporting_unit_code, region_code, period_id, indicator_code, version)) as observation_id,
        indicator_code,
        region_code,
        period_id,
        reporting_unit_code,
        value,
        unit,
        obs_status,
        cast(version as integer) as version,
        is_current,
        received_at,
        received_at as valid_from,
        superseded_at as valid_to,
        note,
        file_sha256,
        file_name,
        source_sheet,
        cast(source_row_number as integer) as source_row_number

    from observations

)

select * from final

{% endif %}
