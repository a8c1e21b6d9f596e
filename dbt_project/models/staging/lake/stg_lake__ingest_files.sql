with

source as (

    select * from {{ source('lake', 'ingest_files') }}

),

renamed as (

    select
        file_sha256,
        file_name,
        source as source_kind,
        file_format,
        size_bytes,
        reporting_unit_code,
        period_id,
        received_at,
        received_at_source,
        status,
        rows_received,
        rows_accepted,
        rows_quarantined,
        rows_skipped,
        error_reason,
        error as error_message,
        archive_path

    from source

)

select * from renamed
