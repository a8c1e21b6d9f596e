with

source as (

    select * from {{ ref('indicators') }}

),

renamed as (

    select
        indicator_code,
        name_zh,
        name_en,
        pillar_code,
        pillar_zh,
        unit,
        kind,
        aggregation,
        nullif(numerator_code, '') as numerator_code,
        nullif(denominator_code, '') as denominator_code,
        direction,
        periodicity,
        description,
        nullif(parent_code, '') as parent_indicator_code

    from source

)

select * from renamed
