with

source as (

    select * from {{ source('microdata', 'certifications') }}

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
        skill_grade_code,
        occupation_code,
        occupation_name,
        cast(certified_on as date) as certified_on,
        issuing_body,
        cast(received_at as timestamp) as received_at

    from source

)

select * from renamed
