with

indicators as (

    select * from {{ ref('stg_reference__indicators') }}

),

final as (

    select
        indicator_code,
        name_zh,
        name_en,
        pillar_code,
        pillar_zh,
        unit,
        kind,
        aggregation,
        numerator_code,
        denominator_code,
        direction,
        periodicity,
        description,
        parent_indicator_code

    from indicators

)

select * from final
