-- Disclosure control of the worker counts the statistics marts publish (统计数据发布保密规则), step 1
-- of 2: one row per count, the skill-grade pyramid's cells (year × region × industry section × skill
-- grade, margins '_T' included) and the worker shares' counts, kept as cells of the region's
-- all-industries row: '_HS' high-skill talents (the grades with is_high_skill), '_ST' skill talents
-- (every grade of the ladder), '_MW' migrant workers. Three counts are never published but follow from
-- published ones, and are rows here too (is_published false): '_LS' skill talents below high skill
-- ('_ST' - '_HS'), '_NH' workers who are not high-skill talents ('_T' - '_HS'), '_NM' workers who are
-- not migrant workers ('_T' - '_MW'). Step 2, int_worker_counts_audited, checks the result against all
-- the sums at once; the marts read that.
--
-- Primary suppression: a count of 1 to k - 1 (macro reform_stats_is_small) must stay unknown; a
-- published one is withheld (an unpublished one is unknown anyway, but must not be derivable).
-- Secondary (complementary) suppression: such a count must not be the only unknown of a sum the
-- marts publish, or it is the published total minus the published parts. The sums (the grades of a
-- row, the sections of a column, the regions below a parent, the high-skill and ladder grades of the
-- share counts, the complements) are macro reform_stats_worker_count_sums.
-- While a sum's only unknown member is one that must stay unknown, its smallest other published
-- non-zero member is withheld too (a part before the total, then the smaller count, then the cell
-- id) and must stay unknown in turn, until no sum gives one away: a recursive CTE keyed by the cell
-- (DuckDB's USING KEY; recurring.protected is the state so far). A zero is never the complement:
-- published zeros are known, and a withheld zero beside a withheld 1 would give the 1 away. This is
-- the single-sum rule of the statistical offices' hypercube method: it is fast and leaves little
-- for step 2, which solves the sums together (combining sums can still pin a count down).
{{ config(materialized='table') }}

with recursive

workers as (

    select * from {{ ref('int_workers_deduplicated') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

regions as (

    select * from {{ ref('dim_region') }}

),

skill_grades as (

    select * from {{ ref('dim_skill_grade') }}

),

placed as (

    select
        workers.reference_year as year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        workers.industry_section_code,
        case when workers.is_skill_talent then workers.skill_grade_code else '_Z' end as skill_grade_code,
        workers.is_skill_talent,
        workers.is_high_skill,
        workers.is_migrant_worker

    from workers
    inner join region_ancestors
        on workers.region_code = region_ancestors.region_code

),

pyramid_counts as (

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

talent_counts as (

    select
        year,
        region_code,
        region_level,
        count(*) as n_workers,
        count(*) filter (where is_high_skill) as n_high_skill,
        count(*) filter (where is_skill_talent) as n_skill_talents,
        count(*) filter (where is_migrant_worker) as n_migrant_workers

    from placed
    group by 1, 2, 3

),

share_counts as (

    select year, region_code, region_level, '_HS' as skill_grade_code, n_high_skill as n_workers
    from talent_counts
    union all
    select year, region_code, region_level, '_ST', n_skill_talents from talent_counts
    union all
    select year, region_code, region_level, '_MW', n_migrant_workers from talent_counts
    union all
    select year, region_code, region_level, '_LS', n_skill_talents - n_high_skill from talent_counts
    union all
    select year, region_code, region_level, '_NH', n_workers - n_high_skill from talent_counts
    union all
    select year, region_code, region_level, '_NM', n_workers - n_migrant_workers from talent_counts

),

counts as (

    select *, true as is_published, false as is_share_count
    from pyramid_counts

    union all

    select
        year,
        region_code,
        region_level,
        '_T' as industry_section_code,
        skill_grade_code,
        n_workers,
        skill_grade_code in ('_HS', '_ST', '_MW') as is_published,
        true as is_share_count

    from share_counts

),

cells as (

    select
        concat_ws('|', counts.year, counts.region_code, counts.industry_section_code, counts.skill_grade_code)
            as cell_id,
        counts.*,
        regions.parent_code,
        skill_grades.is_high_skill as is_high_skill_grade,
        {{ reform_stats_is_small('counts.n_workers') }} as is_small

    from counts
    left join regions
        on counts.region_code = regions.region_code
    left join skill_grades
        on counts.skill_grade_code = skill_grades.skill_grade_code

),

-- every published sum, one row per member (macro reform_stats_worker_count_sums)
members as (

    {{ reform_stats_worker_count_sums('cells') }}

),

protected (cell_id, is_unknown, must_stay_unknown, suppression) using key (cell_id) as (

    select
        cell_id,
        is_small or not is_published,
        is_small,
        case when is_small and is_published then 'primary' end

    from cells

    union

    select distinct
        chosen.cell_id,
        true,
        true,
        'secondary'

    from (
        select
            members.cell_id,
            row_number() over (
                partition by members.sum_id
                order by members.is_total, cells.n_workers, members.cell_id
            ) as pick

        from (
            -- the sums whose only unknown member must stay unknown: it is the total minus the rest
            select members.sum_id
            from members
            inner join recurring.protected as state
                on members.cell_id = state.cell_id
            group by members.sum_id
            having count(*) filter (where state.is_unknown) = 1
                and count(*) filter (where state.is_unknown and state.must_stay_unknown) = 1
        ) as exposed
        inner join members
            on exposed.sum_id = members.sum_id
        inner join recurring.protected as state
            on members.cell_id = state.cell_id
        inner join cells
            on members.cell_id = cells.cell_id
        where not state.is_unknown and cells.n_workers > 0
    ) as chosen
    where chosen.pick = 1

),

final as (

    select
        cells.year,
        cells.region_code,
        cells.region_level,
        cells.industry_section_code,
        cells.skill_grade_code,
        cells.is_share_count,
        cells.n_workers,
        cells.is_published,
        cells.is_small,
        protected.is_unknown as is_suppressed,
        protected.suppression,
        cells.cell_id,
        cells.parent_code,
        cells.is_high_skill_grade

    from cells
    inner join protected
        on cells.cell_id = protected.cell_id

)

select * from final
