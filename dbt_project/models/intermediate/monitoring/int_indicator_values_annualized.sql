-- One value per indicator × region × calendar year, from the roll-up, for year-on-year progress:
--   annual indicators     the annual period's value;
--   sub-annual, summed    (quarter, half-year, month; aggregation sum) the figures are flows - events,
--                         people, money in the period - so the year's value is the sum of its periods;
--   sub-annual, none      the last reported period's value;
--   ratio                 recomputed from the year's sums of the roll-up's numerator and denominator
--                         pair sums over the periods of its parts (a rate whose parts are quarterly
--                         counts is the year's total over the year's total), never averaged.
-- Only periods of the indicator's catalog periodicity (a ratio: its numerator's) count. A masked period masks the year.
-- Materialised as a table: read by int_targets_assessed and rpt_region_scorecard.
{{ config(materialized='table') }}

with

rollup as (

    select * from {{ ref('fct_indicator_rollup') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

periods as (

    select * from {{ ref('dim_period') }}

),

-- ratios are summed through their numerator and denominator pair sums, per the periods of their parts
period_values as (

    select
        rollup.indicator_code,
        rollup.region_code,
        rollup.period_id,
        rollup.aggregation,
        rollup.value,
        rollup.numerator_value,
        rollup.denominator_value,
        rollup.obs_status,
        rollup.n_masked,
        rollup.n_estimated,
        rollup.n_provisional,
        rollup.n_expected,
        rollup.n_reported,
        rollup.is_complete,
        periods.year,
        periods.end_date,
        case periods.period_type
            when 'annual' then 1
            when 'half_year' then 2
            when 'quarter' then 4
            when 'month' then 12
        end as periods_per_year,
        rollup.value is not null or rollup.obs_status = 'masked' as has_figure

    from rollup
    inner join indicators
        on rollup.indicator_code = indicators.indicator_code
    left join indicators as numerators
        on indicators.numerator_code = numerators.indicator_code
    inner join periods
        on rollup.period_id = periods.period_id
        and periods.period_type = case
            when indicators.aggregation = 'ratio' then numerators.periodicity
            else indicators.periodicity
        end

),

years_summed as (

    select
        indicator_code,
        region_code,
        year,
        any_value(aggregation) as aggregation,
        any_value(periods_per_year) as periods_per_year,
        sum(n_masked) as n_masked,
        sum(n_estimated) as n_estimated,
        sum(n_provisional) as n_provisional,
        case any_value(aggregation)
            when 'sum' then sum(value)
            when 'ratio' then {{ reform_monitoring_ratio(
                'sum(numerator_value) filter (where value is not null)',
                'sum(denominator_value) filter (where value is not null)') }}
            else arg_max(value, end_date) filter (where has_figure)
        end as value_sum,
        sum(numerator_value) filter (where value is not null) as numerator_value,
        sum(denominator_value) filter (where value is not null) as denominator_value,
        count(*) filter (where has_figure) as n_periods_reported,
        max(period_id) filter (where has_figure) as last_period_id,
        max(end_date) filter (where has_figure) as last_period_end_date,
        sum(n_expected) as n_expected,
        sum(n_reported) as n_reported,
        bool_and(is_complete) as all_periods_complete

    from period_values
    group by 1, 2, 3

),

annualized as (

    select
        indicator_code,
        region_code,
        year,
        aggregation,
        case when n_masked > 0 then null else value_sum end as value,
        {{ reform_monitoring_aggregate_status('n_masked', 'value_sum', 'n_estimated', 'n_provisional') }} as obs_status,
        cast(n_masked as integer) as n_masked,
        cast(n_estimated as integer) as n_estimated,
        cast(n_provisional as integer) as n_provisional,
        cast(n_periods_reported as integer) as n_periods_reported,
        cast(periods_per_year as integer) as periods_per_year,
        n_periods_reported = periods_per_year as is_full_year,
        all_periods_complete and n_periods_reported = periods_per_year as is_complete,
        last_period_id,
        last_period_end_date,
        cast(n_expected as integer) as n_expected,
        cast(n_reported as integer) as n_reported,
        case when n_masked = 0 then numerator_value end as numerator_value,
        case when n_masked = 0 then denominator_value end as denominator_value

    from years_summed

),

final as (

    select
        indicator_code,
        region_code,
        cast(year as integer) as year,
        aggregation,
        cast(value as double) as value,
        obs_status,
        n_masked,
        n_estimated,
        n_provisional,
        n_periods_reported,
        periods_per_year,
        is_full_year,
        is_complete,
        last_period_id,
        last_period_end_date,
        n_expected,
        n_reported,
        numerator_value,
        denominator_value

    from annualized

)

select * from final
