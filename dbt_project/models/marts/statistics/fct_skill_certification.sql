-- Skill-grade certificates issued (技能等级认定发证), one row per year × region × skill grade:
-- certificates and distinct persons certified, from the certification records. The year is the
-- year the certificate was issued. Certification records carry no region: a certificate is placed
-- in the region of the worker's record of the latest reference year (int_workers_deduplicated); a
-- certificate of a person without any worker record is left out. A certificate sent again in a
-- later file counts once. skill_grade_code '_T' = all grades (a person certified at two grades in a
-- year counts once there). Rolled up to every ancestor region through bridge_region_ancestor; the
-- national root 000000 gives certificates by grade × year. Disclosure control: when 1 to k - 1
-- persons (var stats_disclosure_k, default 5) stand behind a row, its counts are null and
-- is_suppressed is true.
with

certifications as (

    select * from {{ ref('stg_microdata__certifications') }}

),

workers as (

    select * from {{ ref('int_workers_deduplicated') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

skill_grades as (

    select * from {{ ref('dim_skill_grade') }}

),

ranked_certifications as (

    select
        *,
        row_number() over (
            partition by worker_pseudonym, skill_grade_code, occupation_code, occupation_name, certified_on
            order by received_at desc, file_sha256 desc, source_row_number desc
        ) as record_rank

    from certifications

),

latest_certifications as (

    select * from ranked_certifications
    where record_rank = 1

),

worker_regions as (

    select
        worker_pseudonym,
        arg_max(region_code, reference_year) as region_code

    from workers
    group by worker_pseudonym

),

placed as (

    select
        cast(year(latest_certifications.certified_on) as integer) as year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        latest_certifications.skill_grade_code,
        latest_certifications.worker_pseudonym

    from latest_certifications
    inner join worker_regions
        on latest_certifications.worker_pseudonym = worker_regions.worker_pseudonym
    inner join region_ancestors
        on worker_regions.region_code = region_ancestors.region_code

),

counted as (

    select
        year,
        region_code,
        region_level,
        coalesce(skill_grade_code, '_T') as skill_grade_code,
        count(*) as n_certificates,
        count(distinct worker_pseudonym) as n_persons

    from placed
    group by grouping sets (
        (year, region_code, region_level, skill_grade_code),
        (year, region_code, region_level)
    )

),

screened as (

    select
        *,
        {{ reform_stats_is_small('n_persons') }} as is_suppressed

    from counted

),

final as (

    select
        md5(concat_ws('|', screened.year, screened.region_code, screened.skill_grade_code)) as certification_cell_id,
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
