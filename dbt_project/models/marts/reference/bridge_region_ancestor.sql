-- Every region paired with itself (distance 0) and each of its ancestors up to the national root
-- 000000, so a roll-up from county to prefecture, province or nation is one join:
--   join bridge_region_ancestor as b on b.region_code = fact.region_code
--   group by b.ancestor_code
-- Historical codes follow their historical parents (533221 → 533200 → 530000 → 000000).
-- The recursion sits inside a CTE (not a top-level `with recursive`) so that dbt can inject
-- unit-test fixtures in front of it.
with

regions as (

    select * from {{ ref('stg_reference__regions') }}

),

ancestors as (

    with recursive walk (region_code, ancestor_code, distance) as (

        select
            region_code,
            region_code,
            0

        from regions

        union all

        select
            walk.region_code,
            parents.parent_code,
            walk.distance + 1

        from walk
        inner join regions as parents
            on walk.ancestor_code = parents.region_code
        where parents.parent_code is not null
            -- a guard against a cycle in the code list; the deepest real chain has 3 steps
            and walk.distance < 10

    )

    select * from walk

),

final as (

    select
        ancestors.region_code,
        ancestors.ancestor_code,
        ancestor_regions.level as ancestor_level,
        cast(ancestors.distance as integer) as distance

    from ancestors
    inner join regions as ancestor_regions
        on ancestors.ancestor_code = ancestor_regions.region_code

)

select * from final
