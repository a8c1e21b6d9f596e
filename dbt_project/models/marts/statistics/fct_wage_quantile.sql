-- Monthly wages by occupation and skill grade (分职业分技能等级工资价位), one row per year × region ×
-- occupation × skill grade, with the headcount-weighted mean, lower quartile, median and upper
-- quartile, computed in int_wage_cells_summarised (the wage records are cells of an average wage and
-- its headcount, pooled over the regions below each region; occupation_code '_T' = all occupations
-- of the grade; how the quartiles are taken is described there). Disclosure control
-- (int_statistics_cells_audited): when 1 to k - 1 workers (var stats_disclosure_k, default 5) stand
-- behind a row, its headcount, mean and quartiles are null and is_suppressed is true, and so are the
-- rows withheld so that no small row's headcount - or, through headcount × mean, its wage bill - can
-- be worked out from the published occupations and regions that add up to one another. A withheld
-- row shows no number of cells either, and a published row's quartile is null when it is taken from
-- a cell whose own row is withheld (the quartile would be that cell's average wage).
with

summarised as (

    select * from {{ ref('int_wage_cells_summarised') }}

),

audited as (

    select * from {{ ref('int_statistics_cells_audited') }}
    where table_name = 'wages'

),

skill_grades as (

    select * from {{ ref('dim_skill_grade') }}

),

withheld_rows as (

    select list(cell_id) as cell_ids
    from audited
    where is_suppressed

),

-- a quartile is a cell's average wage, or the mean of two: published, it would give a withheld
-- cell's average away (with the sums of headcounts and wage bills, its headcount too)
screened as (

    select
        summarised.*,
        audited.is_suppressed,
        audited.is_suppressed or list_has_any(summarised.p25_cell_row_ids, withheld_rows.cell_ids) as hide_p25,
        audited.is_suppressed or list_has_any(summarised.median_cell_row_ids, withheld_rows.cell_ids)
            as hide_median,
        audited.is_suppressed or list_has_any(summarised.p75_cell_row_ids, withheld_rows.cell_ids) as hide_p75

    from summarised
    inner join audited
        on summarised.cell_id = audited.cell_id
    cross join withheld_rows

),

final as (

    select
        screened.cell_id as wage_quantile_id,
        cast(screened.year as integer) as year,
        screened.region_code,
        screened.region_level,
        screened.occupation_code,
        screened.occupation_name,
        screened.skill_grade_code,
        skill_grades.name_zh as skill_grade_name_zh,
        skill_grades.grade_order,
        cast({{ reform_stats_suppress('screened.n_cells', 'screened.is_suppressed') }} as integer) as n_cells,
        cast({{ reform_stats_suppress('screened.n_workers', 'screened.is_suppressed') }} as integer) as n_workers,
        cast({{ reform_stats_suppress('screened.mean_wage', 'screened.is_suppressed') }} as double)
            as mean_monthly_wage_yuan,
        cast({{ reform_stats_suppress('screened.p25_wage', 'screened.hide_p25') }} as double)
            as p25_monthly_wage_yuan,
        cast({{ reform_stats_suppress('screened.median_wage', 'screened.hide_median') }} as double)
            as median_monthly_wage_yuan,
        cast({{ reform_stats_suppress('screened.p75_wage', 'screened.hide_p75') }} as double)
            as p75_monthly_wage_yuan,
        screened.is_suppressed

    from screened
    left join skill_grades
        on screened.skill_grade_code = skill_grades.skill_grade_code

)

select * from final
