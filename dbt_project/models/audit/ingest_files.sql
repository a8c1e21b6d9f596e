-- One row per received file with its version: a later file for the same unit and period is a
-- resubmission (version 2, 3, …); the latest is current. Rejected files get no version.
with

files as (

    select * from {{ ref('stg_lake__ingest_files') }}

),

versioned as (

    select
        *,
        case when status != 'rejected' and reporting_unit_code is not null then
            row_number() over (
                partition by reporting_unit_code, period_id, status != 'rejected' and reporting_unit_code is not null
                order by received_at, file_sha256
            )
        end as version

    from files

),

final as (

    select
        file_sha256,
        file_name,
        source_kind,
        file_format,
        size_bytes,
        reporting_unit_code,
        period_id,
        cast(version as integer) as version,
        version is not null and version = max(version) over (partition by reporting_unit_code, period_id) as is_current,
        received_at,
        received_at_source,
        status,
        rows_received,
        rows_accepted,
        rows_quarantined,
        rows_skipped,
        error_reason,
        error_message,
        archive_path

    from versioned

)

select * from final
