-- One row per submitted value and version: indicator × region × period × reporting unit × version.
-- `is_current` marks the latest version; `valid_from`/`valid_to` say what was known when, so
-- "as of" a date D is: valid_from <= D and (valid_to is null or valid_to > D).
-- In the national roll-up of a build sharded by province (macro reform_reads_shards) the rows are the
-- provinces' own rows, unchanged: a version history is keyed by unit, region, period and indicator,
-- and all rows of a region are in one province, so every history was numbered whole in one shard.
{% if reform_reads_shards() %}

select * from {{ source('shards', 'fct_indicator_observation') }}

{% else %}

with

observations as (

    select * from {{ ref('int_observations_versioned') }}

),

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
