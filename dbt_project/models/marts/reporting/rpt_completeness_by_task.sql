-- Reporting completeness and timeliness per plan measure (task) and year: the expected submissions
-- of the indicators that measure the task (bridge_task_indicator) - for a ratio indicator, of its
-- numerator and denominator, which is what units report - by whichever unit owes them, as
-- DHIS2 reports them: completeness = submitted / expected × 100, timeliness = on time / expected
-- × 100, over the expected submissions due as of var as_of_date. An indicator measuring two tasks
-- counts for both.
with

completeness as (

    select * from {{ ref('fct_reporting_completeness') }}
    where is_due

),

task_indicators as (

    select * from {{ ref('bridge_task_indicator') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

tasks as (

    select * from {{ ref('dim_task') }}

),

-- the indicators units report for each task: the task's indicators and the parts of its ratios
task_reported_indicators as (

    select distinct
        task_indicators.task_code,
        reported.indicator_code

    from task_indicators
    inner join indicators
        on task_indicators.indicator_code = indicators.indicator_code
    cross join lateral (
        select unnest([indicators.indicator_code, indicators.numerator_code, indicators.denominator_code])
            as indicator_code
    ) as reported
    where reported.indicator_code is not null

),

counted as (

    select
        task_reported_indicators.task_code,
        completeness.period_year,
        count(distinct completeness.indicator_code) as n_indicators,
        count(distinct completeness.reporting_unit_code) as n_reporting_units,
        {{ reform_monitoring_completeness_counts('completeness') }}

    from completeness
    inner join task_reported_indicators
        on completeness.indicator_code = task_reported_indicators.indicator_code
    group by 1, 2

),

final as (

    select
        counted.task_code,
        tasks.pillar_code,
        tasks.title_zh,
        tasks.lead_unit_code,
        counted.period_year,
        cast(counted.n_indicators as integer) as n_indicators,
        cast(counted.n_reporting_units as integer) as n_reporting_units,
        cast(counted.n_expected as integer) as n_expected,
        cast(counted.n_submitted as integer) as n_submitted,
        cast(counted.n_on_time as integer) as n_on_time,
        cast(counted.n_late as integer) as n_late,
        cast(counted.n_missing as integer) as n_missing,
        cast(100.0 * counted.n_submitted / counted.n_expected as double) as completeness_rate,
        cast(100.0 * counted.n_on_time / counted.n_expected as double) as timeliness_rate

    from counted
    left join tasks
        on counted.task_code = tasks.task_code

)

select * from final
