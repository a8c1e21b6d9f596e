with

source as (

    select * from {{ source('lake', 'quarantine') }}

),

renamed as (

    select
        file_sha256,
        file_name,
        sheet as source_sheet,
        row_number as source_row_number,
        raw_values,
        reason_code,
        message,
        quarantined_at

    from source

)

select * from renamed
