with

units as (

    select * from {{ ref('stg_reference__reporting_units') }}

),

final as (

    select
        reporting_unit_code,
        name_zh,
        name_en,
        unit_kind,
        region_code

    from units

)

select * from final
