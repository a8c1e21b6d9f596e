with

source as (

    select * from {{ source('microdata', 'survey_responses') }}

),

renamed as (

    select
        file_sha256,
        file_name,
        sheet as source_sheet,
        cast(row_number as integer) as source_row_number,
        respondent_id,
        cast(respondent_id_is_pseudonym as boolean) as respondent_id_is_pseudonym,
        cast(survey_year as integer) as survey_year,
        region_code,
        worker_group_code,
        cast(design_weight as double) as design_weight,
        cast(monthly_income_yuan as double) as monthly_income_yuan,
        cast(received_training as boolean) as received_training,
        cast(satisfaction as integer) as satisfaction,
        cast(has_written_contract as boolean) as has_written_contract,
        cast(received_at as timestamp) as received_at

    from source

)

select * from renamed
