with

regions as (

    select * from {{ ref('stg_reference__regions') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

paths as (

    select
        region_code,
        list(ancestor_code order by distance desc) as path_codes,
        max(ancestor_code) filter (where ancestor_level = 'province') as province_code,
        max(ancestor_code) filter (where ancestor_level = 'prefecture') as prefecture_code

    from region_ancestors
    group by region_code

),

final as (

    select
        regions.region_code,
        regions.parent_code,
        regions.level,
        case regions.level
            when 'national' then 0
            when 'province' then 1
            when 'prefecture' then 2
            when 'county' then 3
        end as level_depth,
        regions.name_zh,
        regions.name_en,
        regions.valid_from,
        regions.valid_to,
        regions.valid_to is null as is_current,
        regions.source_reference,
        cast(paths.path_codes as varchar[]) as path_codes,
        paths.province_code,
        paths.prefecture_code

    from regions
    left join paths
        on regions.region_code = paths.region_code

)

select * from final
