-- Skill-grade certificates issued (技能等级认定发证), the true counts, one row per year × region ×
-- skill grade: certificates and distinct persons certified, from the certification records. The
-- year is the year the certificate was issued. Certification records carry no region: a certificate
-- is placed in the region of the worker's record of the latest reference year
-- (int_workers_deduplicated); a certificate of a person without any worker record is left out. A
-- certificate sent again in a later file counts once. skill_grade_code '_T' = all grades: its
-- certificates are the grades' sum, its persons are not (a person certified at two grades in a year
-- counts once there). Rolled up to every ancestor region through bridge_region_ancestor. Not
-- suppressed here: int_statistics_cells_audited decides what fct_skill_certification withholds.
{{ config(materialized='table') }}

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

latest_certifications as (

    {{ reform_latest_records(
        'certifications',
        ['worker_pseudonym', 'skill_grade_code', 'occupation_code', 'occupation_name', 'certified_on']
    ) }}

),

worker_regions as (

    {{ reform_stats_worker_regions('workers') }}

),

placed as (

    select
        cast(year(latest_certifications.certified_on) as integer) as year,
        worker_regions.region_code,
        latest_certifications.skill_grade_code,
        latest_certifications.worker_pseudonym

    from latest_certifications
    inner join worker_regions
        on latest_certifications.worker_pseudonym = worker_regions.worker_pseudonym

),

-- counted in the region each worker is placed in: a worker has one region, so the counts of a
-- region's descendants add up to its own, distinct persons included
counted_by_region as (

    select
        year,
        region_code,
        skill_grade_code,
        grouping(skill_grade_code) = 1 as is_all_grades,
        count(*) as n_certificates,
        count(distinct worker_pseudonym) as n_persons

    from placed
    group by grouping sets ((year, region_code, skill_grade_code), (year, region_code))

),

counted as (

    select
        counted_by_region.year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        coalesce(counted_by_region.skill_grade_code, '_T') as skill_grade_code,
        sum(counted_by_region.n_certificates) as n_certificates,
        sum(counted_by_region.n_persons) as n_persons

    from counted_by_region
    inner join region_ancestors
        on counted_by_region.region_code = region_ancestors.region_code
    group by
        counted_by_region.year,
        region_ancestors.ancestor_code,
        region_ancestors.ancestor_level,
        counted_by_region.skill_grade_code,
        counted_by_region.is_all_grades

),

final as (

    select
        md5(concat_ws('|', year, region_code, skill_grade_code)) as cell_id,
        *

    from counted

)

select * from final
