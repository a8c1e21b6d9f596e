-- Reporting completeness and timeliness per reporting unit and year, as DHIS2 reports them:
-- completeness (reporting rate) = submitted / expected × 100, timeliness (reporting rate on time)
-- = submitted on time / expected × 100, over the expected submissions that were due as of
-- var as_of_date (fct_reporting_completeness.is_due).
with

completeness as (

    select * from {{ ref('fct_reporting_completeness') }}
    where is_due

),

reporting_units as (

    select * from {{ ref('dim_reporting_unit') }}

),

counted as (

    select
        reporting_unit_code,
        period_year,
        {{ reform_monitoring_completeness_counts() }},
        max(days_late) as max_days_late

    from completeness
    group by 1, 2

),

final as (

    select
        counted.reporting_unit_code,
        reporting_units.name_zh,
        reporting_units.region_code,
        counted.period_year,
        cast(counted.n_expected as integer) as n_expected,
        cast(counted.n_submitted as integer) as n_submitted,
        cast(counted.n_on_time as integer) as n_on_time,
        cast(counted.n_late as integer) as n_late,
        cast(counted.n_missing as integer) as n_missing,
        cast(100.0 * counted.n_submitted / counted.n_expected as double) as completeness_rate,
        cast(100.0 * counted.n_on_time / counted.n_expected as double) as timeliness_rate,
        counted.max_days_late

    from counted
    left join reporting_units
        on counted.reporting_unit_code = reporting_units.reporting_unit_code

)

select * from final
