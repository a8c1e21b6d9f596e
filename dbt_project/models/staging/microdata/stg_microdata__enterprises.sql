with

source as (

    select * from {{ source('microdata', 'enterprises') }}

),

renamed as (

    select
        file_sha256,
        file_name,
        sheet as source_sheet,
        cast(row_number as integer) as source_row_number,
        credit_code,
        enterprise_name,
        industry_code,
        region_code,
        ownership_code,
        cast(headcount as bigint) as headcount,
        cast(has_union as boolean) as has_union,
        cast(has_collective_contract as boolean) as has_collective_contract,
        cast(reference_year as integer) as reference_year,
        cast(payroll_yuan as double) as payroll_yuan,
        cast(education_fund_yuan as double) as education_fund_yuan,
        cast(frontline_education_yuan as double) as frontline_education_yuan,
        cast(received_at as timestamp) as received_at

    from source

)

select * from renamed
