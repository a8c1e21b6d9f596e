-- The skill-grade pyramid (技能等级结构): workers by skill grade, one row per year × region ×
-- industry section × skill grade, from the worker records (one row per worker and year,
-- int_workers_deduplicated). Every region is rolled up to its prefecture, province and the nation
-- through bridge_region_ancestor: a worker counts in its own region and in every ancestor, once.
-- Margins are rows too, with SDMX codes: industry_section_code '_T' = all industries, '_U' = industry
-- not stated or unknown; skill_grade_code '_T' = all workers, '_Z' = no skill grade (not applicable:
-- the worker holds no grade of the ladder, grade_order 0). So the sections of a region add up to its
-- '_T' row, and the grades to theirs. Disclosure control (int_worker_counts_audited): a count of
-- 1 to k - 1 workers (var stats_disclosure_k, default 5) is null with is_suppressed = true, and so is
-- every count that would give one away as a published total minus its other published parts.
with

counts as (

    select * from {{ ref('int_worker_counts_audited') }}
    where not is_share_count

),

skill_grades as (

    select * from {{ ref('dim_skill_grade') }}

),

sections as (

    select * from {{ ref('dim_industry') }}
    where level = 'section'

),

final as (

    select
        md5(concat_ws('|', counts.year, counts.region_code, counts.industry_section_code,
            counts.skill_grade_code)) as pyramid_cell_id,
        cast(counts.year as integer) as year,
        counts.region_code,
        counts.region_level,
        counts.industry_section_code,
        case counts.industry_section_code
            when '_T' then '全部行业'
            when '_U' then '行业不详'
            else sections.name_zh
        end as industry_section_name_zh,
        counts.skill_grade_code,
        case counts.skill_grade_code
            when '_T' then '合计'
            when '_Z' then '无技能等级'
            else skill_grades.name_zh
        end as skill_grade_name_zh,
        cast(case counts.skill_grade_code
            when '_T' then null
            when '_Z' then 0
            else skill_grades.grade_order
        end as integer) as grade_order,
        case counts.skill_grade_code
            when '_T' then null
            when '_Z' then false
            else skill_grades.is_high_skill
        end as is_high_skill,
        cast({{ reform_stats_suppress('counts.n_workers', 'counts.is_suppressed') }} as integer) as n_workers,
        counts.is_suppressed

    from counts
    left join sections
        on counts.industry_section_code = sections.industry_code
    left join skill_grades
        on counts.skill_grade_code = skill_grades.skill_grade_code

)

select * from final
