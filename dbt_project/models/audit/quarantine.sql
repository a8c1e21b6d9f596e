-- Append-only, as the lake: a received file's refused rows are one lake file, written once, so an
-- incremental build appends the rows of the files it has not seen (a million rows at province scale
-- are not copied again every night). A fresh build file has no table: a full build.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail') }}

with

quarantine as (

    select * from {{ ref('stg_lake__quarantine') }}
    {% if is_incremental() %}
    anti join (select distinct file_sha256 from {{ this }}) as loaded using (file_sha256)
    {% endif %}

),

final as (

    select
        file_sha256,
        file_name,
        source_sheet,
        source_row_number,
        raw_values,
        reason_code,
        message,
        quarantined_at

    from quarantine

)

select * from final
