with

industries as (

    select * from {{ ref('stg_reference__industries') }}

),

sections as (

    select * from industries
    where level = 'section'

),

final as (

    select
        industries.industry_code,
        industries.level,
        industries.name_zh,
        industries.name_en,
        industries.section_code,
        sections.name_zh as section_name_zh,
        sections.name_en as section_name_en,
        industries.source_reference

    from industries
    left join sections
        on industries.section_code = sections.industry_code

)

select * from final
