-- One row per worker and reference year (职工年度去重): the worker records of a year name a person
-- once per employer and file, and a roster may be sent again; the person counts once, with the
-- record of the latest file (received_at, then file hash and row number break ties) - its craftsman
-- title included. The reference year is the 统计年度 the file states, else the Shanghai calendar
-- year of receipt (macro reform_stats_reference_year). Classifications are attached here so every
-- statistic uses the same ones:
--   industry section  GB/T 4754-2017 section of the division, '_U' when the division is missing or
--                     unknown (SDMX code for unknown)
--   skill talent      holds a grade of the new eight-level ladder (技能人才)
--   high skill        the grade is 高级工 or above (高技能人才, dim_skill_grade.is_high_skill)
--   migrant worker    worker group migrant_workers or new_generation_migrant_workers (农民工, 含新生代)
-- Materialised as a table: read by the pyramid, the worker shares, the craftsmen by level and to
-- place trainings and certifications in a region.
-- In the national roll-up of a build sharded by province (macro reform_reads_shards) the records are
-- the provinces' own latest records, ranked again in the same order: a worker with records in two
-- provinces in one year counts once, with the latest of them.
{{ config(materialized='table') }}

{% if reform_reads_shards() %}

-- the national roll-up of a sharded build: the provinces' latest records, ranked again
{{ reform_latest_shard_records('int_workers_deduplicated', ['worker_pseudonym', 'reference_year']) }}

{% else %}

with

workers as (

    select * from {{ ref('stg_microdata__workers') }}

),

industries as (

    select * from {{ ref('dim_industry') }}
    where level = 'division'

),

skill_grades as (

    select * from {{ ref('dim_skill_grade') }}

),

dated as (

    select
        *,
        {{ reform_stats_reference_year('received_at', 'reference_year') }} as statistics_year

    from workers

),

latest as (

    {{ reform_latest_records('dated', ['worker_pseudonym', 'statistics_year']) }}

),

final as (

    select
        latest.statistics_year as reference_year,
        latest.reference_year is not null as is_reference_year_stated,
        latest.worker_pseudonym,
        latest.region_code,
        latest.industry_code,
        coalesce(industries.section_code, '_U') as industry_section_code,
        latest.skill_grade_code,
        skill_grades.grade_order,
        skill_grades.grade_order is not null as is_skill_talent,
        coalesce(skill_grades.is_high_skill, false) as is_high_skill,
        latest.worker_group_code,
        coalesce(latest.worker_group_code in ('migrant_workers', 'new_generation_migrant_workers'), false)
            as is_migrant_worker,
        latest.is_frontline,
        latest.craftsman_level,
        latest.craftsman_year,
        latest.employer_credit_code,
        latest.received_at,
        latest.file_sha256,
        latest.source_row_number

    from latest
    left join industries
        on latest.industry_code = industries.industry_code
    left join skill_grades
        on latest.skill_grade_code = skill_grades.skill_grade_code

)

select * from final

{% endif %}
