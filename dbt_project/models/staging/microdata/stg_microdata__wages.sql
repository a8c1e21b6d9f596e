with

source as (

    select * from {{ source('microdata', 'wages') }}

),

renamed as (

    select
        file_sha256,
        file_name,
        sheet as source_sheet,
        cast(row_number as integer) as source_row_number,
        occupation_code,
        occupation_name,
        skill_grade_code,
        region_code,
        cast(year as integer) as year,
        cast(monthly_wage_yuan as double) as monthly_wage_yuan,
        cast(headcount as bigint) as headcount,
        cast(received_at as timestamp) as received_at

    from source

)

select * from renamed
