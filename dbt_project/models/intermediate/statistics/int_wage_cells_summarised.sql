-- Monthly wages by occupation and skill grade (分职业分技能等级工资价位), the true figures: one row
-- per year × region × occupation × skill grade, with the headcount-weighted mean, lower quartile, median and upper
-- quartile. The wage records are already aggregated: each cell (occupation × grade × region × year)
-- holds an average monthly wage and the headcount it is taken over. The distribution of a row is
-- that of its cells, each cell's average standing for each of its workers (every worker is given
-- the cell average), so:
--   mean      Σ headcount × wage / Σ headcount - the exact average of the workers behind the row
--   quantiles weighted by headcount, Hyndman & Fan (1996) definition 2 (macro
--             reform_stats_weighted_quantile): the ordinary quartiles of the list in which each cell
--             average is repeated headcount times
-- The spread within a cell is unknown, so these quartiles understate the true spread of wages (they
-- are quartiles of cell averages); a region with one cell per occupation and grade has all three
-- equal to that cell's average. Cells are pooled over the regions below each region of the roll-up
-- (bridge_region_ancestor). occupation_code '_T' = all occupations of the grade. An occupation is
-- identified by its 职业分类大典 code, or by its name when no code was given. A cell sent again in a
-- later file counts once (the latest file's); cells with no workers carry no wage and are left out.
-- Not suppressed here: int_statistics_cells_audited decides what fct_wage_quantile withholds.
{{ config(materialized='table') }}

with

wages as (

    select * from {{ ref('stg_microdata__wages') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

ranked_wages as (

    select
        *,
        row_number() over (
            partition by occupation_code, occupation_name, skill_grade_code, region_code, year
            order by received_at desc, file_sha256 desc, source_row_number desc
        ) as record_rank

    from wages

),

cells as (

    select
        year,
        region_code,
        coalesce(occupation_code, 'name:' || occupation_name) as occupation_key,
        occupation_code,
        occupation_name,
        skill_grade_code,
        monthly_wage_yuan,
        headcount

    from ranked_wages
    where record_rank = 1
        and headcount > 0

),

-- each cell in its own region and every ancestor, once for its occupation and once for all ('_T')
pooled as (

    select
        cells.year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        cells.occupation_key,
        cells.occupation_code,
        cells.occupation_name,
        cells.skill_grade_code,
        cells.region_code as cell_region_code,
        cells.occupation_key as cell_occupation_key,
        cells.monthly_wage_yuan,
        cells.headcount

    from cells
    inner join region_ancestors
        on cells.region_code = region_ancestors.region_code

    union all

    select
        cells.year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        '_T' as occupation_key,
        '_T' as occupation_code,
        '全部职业' as occupation_name,
        cells.skill_grade_code,
        cells.region_code as cell_region_code,
        cells.occupation_key as cell_occupation_key,
        cells.monthly_wage_yuan,
        cells.headcount

    from cells
    inner join region_ancestors
        on cells.region_code = region_ancestors.region_code

),

-- each cell's own row (the cell_id of its region, occupation and grade): a quartile taken from a cell
-- gives that row's average wage away
identified as (

    select
        *,
        md5(concat_ws('|', year, cell_region_code, cell_occupation_key, skill_grade_code)) as cell_row_id

    from pooled

),

cumulated as (

    select
        *,
        sum(headcount) over wage_order as cum_weight,
        sum(headcount) over wage_group as total_weight,
        lead(monthly_wage_yuan) over wage_order as next_wage,
        lead(cell_row_id) over wage_order as next_cell_row_id

    from identified
    window
        wage_group as (partition by year, region_code, occupation_key, skill_grade_code),
        wage_order as (
            partition by year, region_code, occupation_key, skill_grade_code
            order by monthly_wage_yuan, cell_region_code, cell_occupation_key
            rows between unbounded preceding and current row
        )

),

summarised as (

    select
        year,
        region_code,
        region_level,
        occupation_key,
        any_value(occupation_code) as occupation_code,
        min(occupation_name) as occupation_name,
        skill_grade_code,
        count(*) as n_cells,
        sum(headcount) as n_workers,
        sum(headcount * monthly_wage_yuan) / sum(headcount) as mean_wage,
        {{ reform_stats_weighted_quantile(0.25, 'monthly_wage_yuan', 'next_wage') }} as p25_wage,
        {{ reform_stats_weighted_quantile(0.5, 'monthly_wage_yuan', 'next_wage') }} as median_wage,
        {{ reform_stats_weighted_quantile(0.75, 'monthly_wage_yuan', 'next_wage') }} as p75_wage,
        {{ reform_stats_weighted_quantile_sources(0.25, 'cell_row_id', 'next_cell_row_id') }} as p25_cell_row_ids,
        {{ reform_stats_weighted_quantile_sources(0.5, 'cell_row_id', 'next_cell_row_id') }} as median_cell_row_ids,
        {{ reform_stats_weighted_quantile_sources(0.75, 'cell_row_id', 'next_cell_row_id') }} as p75_cell_row_ids

    from cumulated
    group by year, region_code, region_level, occupation_key, skill_grade_code

),

final as (

    select
        md5(concat_ws('|', year, region_code, occupation_key, skill_grade_code)) as cell_id,
        *

    from summarised

)

select * from final
