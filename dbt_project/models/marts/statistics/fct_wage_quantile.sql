-- Monthly wages by occupation and skill grade (分职业分技能等级工资价位), one row per year × region ×
-- occupation × skill grade, with the headcount-weighted mean, lower quartile, median and upper
-- quartile, computed in int_wage_cells_summarised (the wage records are cells of an average wage and
-- its headcount, pooled over the regions below each region; occupation_code '_T' = all occupations
-- of the grade; how the quartiles are taken is described there). Disclosure control
-- (int_statistics_cells_audited): when 1 to k - 1 workers (var stats_disclosure_k, default 5) stand
-- behind a row, its headcount, mean and quartiles are null and is_suppressed is true, and so are the
-- rows withheld so that no small row's headcount - or, through headcount × mean, its wage bill - can
-- be worked out from the published occupations and regions that add up to one another.
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

screened as (

    select
        summarised.*,
        audited.is_suppressed

    from summarised
    inner join audited
        on summarised.cell_id = audited.cell_id

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
        cast({{ reform_stats_suppress('screened.p25_wage', 'screened.is_suppressed') }} as double)
            as p25_monthly_wage_yuan,
        cast({{ reform_stats_suppress('screened.median_wage', 'screened.is_suppressed') }} as double)
            as median_monthly_wage_yuan,
        cast({{ reform_stats_suppress('screened.p75_wage', 'screened.is_suppressed') }} as double)
            as p75_monthly_wage_yuan,
        screened.is_suppressed

    from screened
    left join skill_grades
        on screened.skill_grade_code = skill_grades.skill_grade_code

)

select * from final
