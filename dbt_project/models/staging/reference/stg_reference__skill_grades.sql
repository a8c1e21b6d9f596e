with

source as (

    select * from {{ ref('skill_grades') }}

),

renamed as (

    select
        grade_code as skill_grade_code,
        cast(grade_order as integer) as grade_order,
        name_zh,
        name_en,
        cast(is_high_skill as boolean) as is_high_skill,
        nullif(national_vocational_level, '') as national_vocational_level,
        source as source_reference

    from source

)

select * from renamed
