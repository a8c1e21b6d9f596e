with

skill_grades as (

    select * from {{ ref('stg_reference__skill_grades') }}

),

final as (

    select
        skill_grade_code,
        grade_order,
        name_zh,
        name_en,
        is_high_skill,
        national_vocational_level,
        source_reference

    from skill_grades

)

select * from final
