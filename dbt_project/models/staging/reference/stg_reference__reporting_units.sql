with

source as (

    select * from {{ ref('reporting_units') }}

),

renamed as (

    select
        unit_code as reporting_unit_code,
        name_zh,
        name_en,
        kind as unit_kind,
        cast(region_code as varchar) as region_code

    from source

)

select * from renamed
