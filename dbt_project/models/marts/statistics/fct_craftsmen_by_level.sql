-- Craftsmen by level against the national 2035 targets (各级工匠与2035年目标), one row per target on
-- a craftsman stock indicator (fct_target): about 2,000 大国工匠 (great_craftsmen_total), 10,000
-- 省级工匠 (provincial_craftsmen_total) and 50,000 市级工匠 (city_craftsmen_total) by 2035 (national
-- opinion 一、总体要求). Two sources of the actual:
--   microdata  a count of workers holding the title - the worker records carry no craftsman title,
--              so n_craftsmen is null and microdata_status 'not_collected' (never a zero); once
--              they do, the count takes the same disclosure control as every count (k, var
--              stats_disclosure_k)
--   reports    the figure the reporting units submitted for the indicator, as fct_target_progress
--              assesses it (actual value, year and status)
-- pct_of_target = actual / target value × 100, from the microdata count when there is one, else the
-- reported figure.
with

targets as (

    select * from {{ ref('fct_target') }}

),

target_progress as (

    select * from {{ ref('fct_target_progress') }}

),

craftsman_levels as (

    select * from (values
        ('great_craftsman', '大国工匠', 'Great craftsman (national)', 1, 'great_craftsmen_total'),
        ('provincial_craftsman', '省级工匠', 'Provincial craftsman', 2, 'provincial_craftsmen_total'),
        ('city_craftsman', '市级工匠', 'City-level craftsman', 3, 'city_craftsmen_total')
    ) as craftsman_levels (craftsman_level_code, name_zh, name_en, level_order, indicator_code)

),

-- the worker records have no craftsman title yet (see the model's description)
microdata_counts as (

    select
        indicator_code,
        cast(null as integer) as n_craftsmen,
        'not_collected' as microdata_status

    from craftsman_levels

),

screened_counts as (

    select
        indicator_code,
        {{ reform_stats_suppress('n_craftsmen', reform_stats_is_small('n_craftsmen')) }} as n_craftsmen,
        {{ reform_stats_is_small('n_craftsmen') }} as is_suppressed,
        microdata_status

    from microdata_counts

),

final as (

    select
        targets.target_id,
        craftsman_levels.craftsman_level_code,
        craftsman_levels.name_zh as craftsman_level_name_zh,
        craftsman_levels.name_en as craftsman_level_name_en,
        cast(craftsman_levels.level_order as integer) as level_order,
        targets.indicator_code,
        targets.region_code,
        targets.comparator,
        targets.target_value,
        targets.status as target_status,
        targets.deadline_year,
        targets.source_document,
        targets.source_section,
        cast(screened_counts.n_craftsmen as integer) as n_craftsmen,
        screened_counts.is_suppressed,
        screened_counts.microdata_status,
        target_progress.actual_value as reported_value,
        target_progress.actual_year as reported_year,
        target_progress.status as progress_status,
        cast(coalesce(screened_counts.n_craftsmen, target_progress.actual_value)
            / nullif(targets.target_value, 0) * 100 as double) as pct_of_target

    from targets
    inner join craftsman_levels
        on targets.indicator_code = craftsman_levels.indicator_code
    inner join screened_counts
        on targets.indicator_code = screened_counts.indicator_code
    left join target_progress
        on targets.target_id = target_progress.target_id

)

select * from final
