with

source as (

    select * from {{ ref('ownership_types') }}

),

renamed as (

    select
        ownership_code as ownership_type_code,
        name_zh,
        name_en,
        cast(is_non_public as boolean) as is_non_public,
        source as source_reference

    from source

)

select * from renamed
