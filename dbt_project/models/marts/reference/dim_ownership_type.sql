with

ownership_types as (

    select * from {{ ref('stg_reference__ownership_types') }}

),

final as (

    select
        ownership_type_code,
        name_zh,
        name_en,
        is_non_public,
        source_reference

    from ownership_types

)

select * from final
