with

source as (

    select * from {{ ref('industries') }}

),

renamed as (

    select
        cast(industry_code as varchar) as industry_code,
        level,
        cast(section_code as varchar) as section_code,
        name_zh,
        name_en,
        source as source_reference

    from source

)

select * from renamed
