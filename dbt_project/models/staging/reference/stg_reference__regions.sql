with

source as (

    select * from {{ ref('regions') }}

),

renamed as (

    select
        cast(region_code as varchar) as region_code,
        nullif(cast(parent_code as varchar), '') as parent_code,
        level,
        name_zh,
        name_en,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        source as source_reference

    from source

)

select * from renamed
