-- Craftsmen by level against the national 2035 targets (各级工匠与2035年目标), one row per target on
-- a craftsman stock indicator (fct_target): about 2,000 大国工匠 (great_craftsmen_total), 10,000
-- 省级工匠 (provincial_craftsmen_total) and 50,000 市级工匠 (city_craftsmen_total) by 2035 (national
-- opinion 一、总体要求). Two sources of the actual:
--   microdata  workers holding the title (int_workers_deduplicated.craftsman_level: each worker once
--              per reference year) in the target's region and every region below it
--              (bridge_region_ancestor), in microdata_year - the latest reference year in which the
--              region's worker records hold any craftsman title (a stock: titles held in that year).
--              Records that hold no title at all - older files without the column - do not make a
--              year, so the count is never a zero taken from records that cannot show a title; a
--              region without such records has n_craftsmen null and microdata_status
--              'not_collected'. The count takes the disclosure control of every count: 1 to k - 1
--              (var stats_disclosure_k) is null with is_suppressed
--   reports    the figure the reporting units submitted for the indicator, as fct_target_progress
--              assesses it (actual value, year and status)
-- pct_of_target = actual / target value × 100, from the published microdata count when there is one,
-- else the reported figure.
with

targets as (

    select * from {{ ref('fct_target') }}

),

target_progress as (

    select * from {{ ref('fct_target_progress') }}

),

workers as (

    select * from {{ ref('int_workers_deduplicated') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

craftsman_levels as (

    select * from (values
        ('great_craftsman', '大国工匠', 'Great craftsman (national)', 1, 'great_craftsmen_total'),
        ('provincial_craftsman', '省级工匠', 'Provincial craftsman', 2, 'provincial_craftsmen_total'),
        ('city_craftsman', '市级工匠', 'City-level craftsman', 3, 'city_craftsmen_total')
    ) as craftsman_levels (craftsman_level_code, name_zh, name_en, level_order, indicator_code)

),

-- titled workers per region (own and below), reference year and level
titled_counts as (

    select
        region_ancestors.ancestor_code as region_code,
        workers.reference_year,
        workers.craftsman_level,
        count(*) as n_workers

    from workers
    inner join region_ancestors
        on workers.region_code = region_ancestors.region_code
    where workers.craftsman_level is not null
    group by 1, 2, 3

),

-- the latest reference year whose records hold any title, per region
microdata_years as (

    select
        region_code,
        max(reference_year) as microdata_year

    from titled_counts
    group by 1

),

microdata_counts as (

    select
        microdata_years.region_code,
        craftsman_levels.indicator_code,
        microdata_years.microdata_year,
        coalesce(titled_counts.n_workers, 0) as n_craftsmen

    from microdata_years
    cross join craftsman_levels
    left join titled_counts
        on microdata_years.region_code = titled_counts.region_code
        and microdata_years.microdata_year = titled_counts.reference_year
        and craftsman_levels.craftsman_level_code = titled_counts.craftsman_level

),

screened_counts as (

    select
        region_code,
        indicator_code,
        microdata_year,
        {{ reform_stats_suppress('n_craftsmen', reform_stats_is_small('n_craftsmen')) }} as n_craftsmen,
        {{ reform_stats_is_small('n_craftsmen') }} as is_suppressed

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
        coalesce(screened_counts.is_suppressed, false) as is_suppressed,
        case when screened_counts.region_code is null then 'not_collected' else 'collected' end
            as microdata_status,
        cast(screened_counts.microdata_year as integer) as microdata_year,
        target_progress.actual_value as reported_value,
        target_progress.actual_year as reported_year,
        target_progress.status as progress_status,
        cast(coalesce(screened_counts.n_craftsmen, target_progress.actual_value)
            / nullif(targets.target_value, 0) * 100 as double) as pct_of_target

    from targets
    inner join craftsman_levels
        on targets.indicator_code = craftsman_levels.indicator_code
    left join screened_counts
        on targets.indicator_code = screened_counts.indicator_code
        and targets.region_code = screened_counts.region_code
    left join target_progress
        on targets.target_id = target_progress.target_id

)

select * from final
