with

source as (

    select * from {{ source('microdata', 'workers') }}

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
        employer_credit_code,
        region_code,
        industry_code,
        skill_grade_code,
        worker_group_code,
        cast(is_frontline as boolean) as is_frontline,
        cast(reference_year as integer) as reference_year,
        craftsman_level,
        cast(craftsman_year as integer) as craftsman_year,
        cast(received_at as timestamp) as received_at

    from source

)

select * from renamed
