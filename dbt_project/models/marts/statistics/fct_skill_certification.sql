-- Skill-grade certificates issued (技能等级认定发证), one row per year × region × skill grade:
-- certificates and distinct persons certified, counted in int_certifications_counted (the year the
-- certificate was issued; the region of the worker's latest record; rolled up to every ancestor
-- region, the national root 000000 giving certificates by grade × year). skill_grade_code '_T' = all
-- grades (a person certified at two grades in a year counts once there). Disclosure control
-- (int_statistics_cells_audited): when 1 to k - 1 persons (var stats_disclosure_k, default 5) stand
-- behind a row, its counts are null and is_suppressed is true, and so are the rows withheld so that
-- no small row can be worked out from the published grades and regions that add up to one another.
with

counted as (

    select * from {{ ref('int_certifications_counted') }}

),

audited as (

    select * from {{ ref('int_statistics_cells_audited') }}
    where table_name = 'certifications'

),

skill_grades as (

    select * from {{ ref('dim_skill_grade') }}

),

screened as (

    select
        counted.*,
        audited.is_suppressed

    from counted
    inner join audited
        on counted.cell_id = audited.cell_id

),

final as (

    select
        screened.cell_id as certification_cell_id,
        screened.year,
        screened.region_code,
        screened.region_level,
        screened.skill_grade_code,
        case screened.skill_grade_code when '_T' then '合计' else skill_grades.name_zh end as skill_grade_name_zh,
        skill_grades.grade_order,
        skill_grades.is_high_skill,
        cast({{ reform_stats_suppress('screened.n_certificates', 'screened.is_suppressed') }} as integer)
            as n_certificates,
        cast({{ reform_stats_suppress('screened.n_persons', 'screened.is_suppressed') }} as integer) as n_persons,
        screened.is_suppressed

    from screened
    left join skill_grades
        on screened.skill_grade_code = skill_grades.skill_grade_code

)

select * from final
