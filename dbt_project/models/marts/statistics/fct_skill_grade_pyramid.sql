-- The skill-grade pyramid (技能等级结构): workers by skill grade, one row per year × region ×
-- industry section × skill grade, from the worker records (one row per worker and year,
-- int_workers_deduplicated). Every region is rolled up to its prefecture, province and the nation
-- through bridge_region_ancestor: a worker counts in its own region and in every ancestor, once.
-- Margins are rows too, with SDMX codes: industry_section_code '_T' = all industries, '_U' = industry
-- not stated or unknown; skill_grade_code '_T' = all workers, '_Z' = no skill grade (not applicable:
-- the worker holds no grade of the ladder, grade_order 0). So the sections of a region add up to its
-- '_T' row, and the grades to theirs. Disclosure control (macro reform_stats_is_small): a count of 1
-- to k - 1 workers (var stats_disclosure_k, default 5) is null with is_suppressed = true.
with

workers as (

    select * from {{ ref('int_workers_deduplicated') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

skill_grades as (

    select * from {{ ref('dim_skill_grade') }}

),

sections as (

    select * from {{ ref('dim_industry') }}
    where level = 'section'

),

placed as (

    select
        workers.reference_year as year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        workers.industry_section_code,
        case when workers.is_skill_talent then workers.skill_grade_code else '_Z' end as skill_grade_code

    from workers
    inner join region_ancestors
        on workers.region_code = region_ancestors.region_code

),

counted as (

    select
        year,
        region_code,
        region_level,
        coalesce(industry_section_code, '_T') as industry_section_code,
        coalesce(skill_grade_code, '_T') as skill_grade_code,
        count(*) as n_workers

    from placed
    group by grouping sets (
        (year, region_code, region_level, industry_section_code, skill_grade_code),
        (year, region_code, region_level, industry_section_code),
        (year, region_code, region_level, skill_grade_code),
        (year, region_code, region_level)
    )

),

screened as (

    select
        *,
        {{ reform_stats_is_small('n_workers') }} as is_suppressed

    from counted

),

final as (

    select
        md5(concat_ws('|', screened.year, screened.region_code, screened.industry_section_code,
            screened.skill_grade_code)) as pyramid_cell_id,
        cast(screened.year as integer) as year,
        screened.region_code,
        screened.region_level,
        screened.industry_section_code,
        case screened.industry_section_code
            when '_T' then '全部行业'
            when '_U' then '行业不详'
            else sections.name_zh
        end as industry_section_name_zh,
        screened.skill_grade_code,
        case screened.skill_grade_code
            when '_T' then '合计'
            when '_Z' then '无技能等级'
            else skill_grades.name_zh
        end as skill_grade_name_zh,
        cast(case screened.skill_grade_code
            when '_T' then null
            when '_Z' then 0
            else skill_grades.grade_order
        end as integer) as grade_order,
        case screened.skill_grade_code
            when '_T' then null
            when '_Z' then false
            else skill_grades.is_high_skill
        end as is_high_skill,
        cast({{ reform_stats_suppress('screened.n_workers', 'screened.is_suppressed') }} as integer) as n_workers,
        screened.is_suppressed

    from screened
    left join sections
        on screened.industry_section_code = sections.industry_code
    left join skill_grades
        on screened.skill_grade_code = skill_grades.skill_grade_code

)

select * from final
