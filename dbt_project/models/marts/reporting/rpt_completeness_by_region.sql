-- Reporting completeness and timeliness per region and year, over every reporting unit located in
-- the region or below it (a prefecture counts its own departments and its counties' units), as
-- DHIS2 reports them: completeness = submitted / expected × 100, timeliness = on time / expected
-- × 100, over the expected submissions due as of var as_of_date.
with

completeness as (

    select * from {{ ref('fct_reporting_completeness') }}
    where is_due

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

regions as (

    select * from {{ ref('dim_region') }}

),

counted as (

    select
        region_ancestors.ancestor_code as region_code,
        completeness.period_year,
        count(distinct completeness.reporting_unit_code) as n_reporting_units,
        {{ reform_monitoring_completeness_counts('completeness') }}

    from completeness
    inner join region_ancestors
        on completeness.region_code = region_ancestors.region_code
    group by 1, 2

),

final as (

    select
        counted.region_code,
        regions.name_zh,
        regions.level,
        counted.period_year,
        cast(counted.n_reporting_units as integer) as n_reporting_units,
        cast(counted.n_expected as integer) as n_expected,
        cast(counted.n_submitted as integer) as n_submitted,
        cast(counted.n_on_time as integer) as n_on_time,
        cast(counted.n_late as integer) as n_late,
        cast(counted.n_missing as integer) as n_missing,
        cast(100.0 * counted.n_submitted / counted.n_expected as double) as completeness_rate,
        cast(100.0 * counted.n_on_time / counted.n_expected as double) as timeliness_rate

    from counted
    left join regions
        on counted.region_code = regions.region_code

)

select * from final
