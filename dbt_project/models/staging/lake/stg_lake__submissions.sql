with

source as (

    select * from {{ source('lake', 'submissions') }}

),

renamed as (

    select
        file_sha256,
        file_name,
        sheet as source_sheet,
        row_number as source_row_number,
        reporting_unit_code,
        region_code,
        period_id,
        indicator_code,
        cast(value as double) as value,
        unit,
        obs_status,
        note,
        raw_value,
        received_at

    from source

)

select * from renamed
