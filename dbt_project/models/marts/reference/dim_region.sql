with

regions as (

    select * from {{ ref('stg_reference__regions') }}

),

final as (

    select
        region_code,
        parent_code,
        level,
        case level
            when 'national' then 0
            when 'province' then 1
            when 'prefecture' then 2
            when 'county' then 3
        end as level_depth,
        name_zh,
        name_en,
        valid_from,
        valid_to,
        valid_to is null as is_current,
        source_reference

    from regions

)

select * from final
