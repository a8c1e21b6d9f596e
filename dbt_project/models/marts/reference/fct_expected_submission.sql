-- Every submission the reporting obligations call for: obligation × each period of the obligation's
-- periodicity from first_year to last_year (the reporting calendar dim_period), due
-- due_days_after_period_end days after the period's last day. The denominator of completeness and
-- timeliness: compare with fct_indicator_observation on unit, region, period and indicator.
with

obligations as (

    select * from {{ ref('stg_reference__reporting_obligations') }}

),

periods as (

    select * from {{ ref('dim_period') }}

),

reporting_units as (

    select * from {{ ref('stg_reference__reporting_units') }}

),

expected as (

    select
        obligations.reporting_unit_code,
        reporting_units.region_code,
        obligations.indicator_code,
        periods.period_id,
        obligations.periodicity,
        periods.start_date as period_start_date,
        periods.end_date as period_end_date,
        obligations.due_days_after_period_end,
        cast(periods.end_date + obligations.due_days_after_period_end as date) as due_date

    from obligations
    inner join periods
        on obligations.periodicity = periods.period_type
        and periods.year between obligations.first_year and obligations.last_year
    left join reporting_units
        on obligations.reporting_unit_code = reporting_units.reporting_unit_code

),

final as (

    select
        md5(concat_ws('|', reporting_unit_code, indicator_code, period_id)) as expected_submission_id,
        reporting_unit_code,
        region_code,
        indicator_code,
        period_id,
        periodicity,
        period_start_date,
        period_end_date,
        cast(due_days_after_period_end as integer) as due_days_after_period_end,
        due_date

    from expected

)

select * from final
