with

source as (

    select * from {{ source('microdata', 'trainings') }}

),

renamed as (

    select
        file_sha256,
        file_name,
        sheet as source_sheet,
        cast(row_number as integer) as source_row_number,
        worker_pseudonym,
        sex,
        cast(birth_year as integer) as birth_year,
        course_name,
        cast(hours as double) as hours,
        cast(start_date as date) as start_date,
        provider_name,
        cast(received_at as timestamp) as received_at

    from source

)

select * from renamed
