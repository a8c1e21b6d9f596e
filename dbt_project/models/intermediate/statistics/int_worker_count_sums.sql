-- The sums that hold between the worker counts (macro reform_stats_worker_count_sums), one row per
-- member, over the counts of int_worker_counts_suppressed: what int_worker_counts_audited solves
-- together to find a small count that combining published sums would pin down.
{{ config(materialized='table') }}

with

counts as (

    select * from {{ ref('int_worker_counts_suppressed') }}

),

regions as (

    select * from {{ ref('dim_region') }}

),

skill_grades as (

    select * from {{ ref('dim_skill_grade') }}

),

cells as (

    select
        counts.cell_id,
        counts.year,
        counts.region_code,
        regions.parent_code,
        counts.industry_section_code,
        counts.skill_grade_code,
        counts.is_share_count,
        skill_grades.is_high_skill as is_high_skill_grade

    from counts
    left join regions
        on counts.region_code = regions.region_code
    left join skill_grades
        on counts.skill_grade_code = skill_grades.skill_grade_code

),

final as (

    {{ reform_stats_worker_count_sums('cells') }}

)

select * from final
