-- Every target assessed once per year (target × assessment year), with the data of the years up to
-- that year: from the first year of the target's plan period to the year of var as_of_date. The row
-- of the as_of year is the current assessment (fct_target_progress); the earlier rows give the
-- year-by-year picture (rpt_region_scorecard). Values come from the roll-up at the target's region.
--
-- progress_method
--   cumulative  one-off target on a running total over the plan period (到2025年累计/新增 X): the
--               indicator is a cumulative_count, or a flow reported per quarter/half-year, or the
--               target's wording says 累计 or 新增 (never for ratios). actual = sum of the year values
--               from the plan start to the latest year; baseline = 0 at the end of the year before
--               the plan start.
--   level       other one-off targets: actual = the latest year's value; baseline = the target's
--               stated baseline, else the first actual in the plan period.
--   recurring   每年/每两年 targets and standing rules (no deadline): actual = the latest full year's
--               value (biennial sum indicators: that year plus the year before); met or not met, no pace.
--
-- Pace and status (UN SDG Progress Chart / Open SDG: ratio of observed to required growth):
--   years from the baseline date (31 Dec of the baseline year, or the end of the first actual's last
--   period) to the actual's last period end (elapsed) and to 31 Dec of the deadline year (total),
--   counted in months / 12.
--   compound pace (levels with positive baseline, actual and target):
--     required = (target / baseline)^(1 / total) - 1,   observed = (actual / baseline)^(1 / elapsed) - 1
--   linear pace (cumulative targets, or a zero baseline):
--     required = (target - baseline) / total,            observed = (actual - baseline) / elapsed
--   progress_ratio CR = direction × observed / |required|; direction +1 for >=, -1 for <=, and for
--   =, ~ and between the side the target lies on from the baseline (else the indicator's direction).
--   status: target_masked > no_data (no target number, no actual, masked actual, a rate outside
--   0-100 % - implausible_actual: its parts disagree, e.g. a numerator from one department larger
--   than the denominator from another - or no trend) > achieved (the comparator holds) > off_track
--   (recurring target not met, or deadline reached in the data without meeting it; the reason is
--   exceeded when an =, ~ or between target was overshot, not_met / deadline_missed when it fell
--   short) > on_track (CR >= 0.95) > at_risk (0.5 <= CR < 0.95) > off_track.
-- Materialised as a table: read by fct_target_progress and rpt_region_scorecard.
{{ config(materialized='table') }}

with

targets as (

    select * from {{ ref('fct_target') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

yearly_values as (

    select * from {{ ref('int_indicator_values_annualized') }}

),

target_rules as (

    select
        targets.target_id,
        targets.indicator_code,
        targets.region_code,
        targets.comparator,
        targets.target_value,
        targets.target_value_high,
        targets.status as target_status,
        targets.deadline_year,
        targets.recurrence,
        targets.baseline_value as stated_baseline_value,
        targets.baseline_year as stated_baseline_year,
        targets.is_conflicting,
        targets.conflict_group,
        indicators.pillar_code,
        indicators.kind,
        indicators.aggregation,
        indicators.periodicity,
        indicators.direction,
        indicators.unit,
        cast({{ reform_monitoring_plan_start_year('targets.source_document', 'targets.deadline_year') }} as integer)
            as plan_start_year,
        case
            when targets.recurrence is not null or targets.deadline_year is null then 'recurring'
            when indicators.aggregation <> 'ratio'
                and (
                    indicators.kind = 'cumulative_count'
                    or indicators.periodicity <> 'annual'
                    or coalesce(targets.value_text, '') || coalesce(targets.source_quote, '') like '%累计%'
                    or coalesce(targets.value_text, '') || coalesce(targets.source_quote, '') like '%新增%'
                )
                then 'cumulative'
            else 'level'
        end as progress_method,
        make_date(targets.deadline_year, 12, 31) as deadline_date

    from targets
    inner join indicators
        on targets.indicator_code = indicators.indicator_code

),

as_of as (

    select
        {{ reform_monitoring_as_of_date() }} as as_of_date,
        year({{ reform_monitoring_as_of_date() }}) as as_of_year

),

assessment_years as (

    select unnest(range(
        (select coalesce(least(min(target_rules.plan_start_year), min(as_of.as_of_year)), min(as_of.as_of_year))
         from target_rules, as_of),
        (select as_of_year + 1 from as_of)
    )) as assessment_year

),

target_years as (

    select
        target_rules.*,
        cast(assessment_years.assessment_year as integer) as assessment_year

    from target_rules
    cross join as_of
    inner join assessment_years
        on assessment_years.assessment_year >= coalesce(target_rules.plan_start_year, as_of.as_of_year)

),

-- the target indicator's yearly figures at the target's region within the plan period, up to the
-- assessment year and (one-off targets) the deadline
target_values as (

    select
        target_years.target_id,
        target_years.assessment_year,
        yearly_values.year,
        yearly_values.value,
        yearly_values.obs_status,
        yearly_values.n_masked,
        yearly_values.n_estimated,
        yearly_values.n_provisional,
        yearly_values.is_full_year,
        yearly_values.is_complete,
        yearly_values.last_period_id,
        yearly_values.last_period_end_date

    from target_years
    inner join yearly_values
        on target_years.indicator_code = yearly_values.indicator_code
        and target_years.region_code = yearly_values.region_code
        and yearly_values.year <= target_years.assessment_year
        and yearly_values.year >= coalesce(target_years.plan_start_year, yearly_values.year)
        and yearly_values.year <= coalesce(target_years.deadline_year, yearly_values.year)
    where yearly_values.value is not null or yearly_values.obs_status = 'masked'

),

value_windows as (

    select
        target_id,
        assessment_year,
        max(year) as latest_year,
        coalesce(max(year) filter (where is_full_year), max(year)) as latest_full_year,
        min(year) filter (where value is not null) as first_value_year,
        sum(value) as value_total,
        sum(n_masked) as n_masked_total,
        sum(n_estimated) as n_estimated_total,
        sum(n_provisional) as n_provisional_total,
        count(*) as n_years,
        bool_and(is_complete) as all_years_complete

    from target_values
    group by 1, 2

),

actuals as (

    select
        target_years.*,
        windows.latest_year,
        case target_years.progress_method
            when 'cumulative' then case when windows.n_masked_total > 0 then null else windows.value_total end
            when 'level' then latest.value
            when 'recurring' then
                case
                    when target_years.recurrence = 'biennial' and target_years.aggregation = 'sum'
                        then case when previous.obs_status = 'masked' then null
                            else evaluated.value + coalesce(previous.value, 0) end
                    else evaluated.value
                end
        end as actual_value,
        case target_years.progress_method
            when 'cumulative' then {{ reform_monitoring_aggregate_status(
                'windows.n_masked_total', 'windows.value_total',
                'windows.n_estimated_total', 'windows.n_provisional_total') }}
            when 'level' then latest.obs_status
            else
                case when previous.obs_status = 'masked' and target_years.recurrence = 'biennial'
                    and target_years.aggregation = 'sum' then 'masked' else evaluated.obs_status end
        end as actual_obs_status,
        case when target_years.progress_method = 'recurring' then evaluated.year else latest.year end as actual_year,
        case when target_years.progress_method = 'recurring' then evaluated.last_period_id
            else latest.last_period_id end as actual_period_id,
        case when target_years.progress_method = 'recurring' then evaluated.last_period_end_date
            else latest.last_period_end_date end as actual_end_date,
        case target_years.progress_method
            when 'cumulative' then windows.all_years_complete
                and windows.n_years = windows.latest_year - target_years.plan_start_year + 1
            when 'level' then latest.is_complete
            else evaluated.is_complete
                and (coalesce(target_years.recurrence, '') <> 'biennial' or target_years.aggregation <> 'sum'
                    or coalesce(previous.is_complete, false))
        end as actual_is_complete,
        case
            when target_years.progress_method = 'cumulative' then 0.0
            when target_years.stated_baseline_value is not null then target_years.stated_baseline_value
            when target_years.progress_method = 'level' then first_actual.value
        end as baseline_value,
        case
            when target_years.progress_method = 'cumulative' then target_years.plan_start_year - 1
            when target_years.stated_baseline_value is not null then target_years.stated_baseline_year
            when target_years.progress_method = 'level' then first_actual.year
        end as baseline_year,
        case
            when target_years.progress_method = 'cumulative' then make_date(target_years.plan_start_year - 1, 12, 31)
            when target_years.stated_baseline_value is not null then make_date(target_years.stated_baseline_year, 12, 31)
            when target_years.progress_method = 'level' then first_actual.last_period_end_date
        end as baseline_date,
        case
            when target_years.progress_method = 'cumulative' then 'plan_start_zero'
            when target_years.stated_baseline_value is not null then 'target'
            when target_years.progress_method = 'level' and first_actual.value is not null then 'first_actual'
        end as baseline_source

    from target_years
    left join value_windows as windows
        on target_years.target_id = windows.target_id
        and target_years.assessment_year = windows.assessment_year
    left join target_values as latest
        on target_years.target_id = latest.target_id
        and target_years.assessment_year = latest.assessment_year
        and windows.latest_year = latest.year
    left join target_values as evaluated
        on target_years.target_id = evaluated.target_id
        and target_years.assessment_year = evaluated.assessment_year
        and windows.latest_full_year = evaluated.year
    left join target_values as previous
        on target_years.target_id = previous.target_id
        and target_years.assessment_year = previous.assessment_year
        and windows.latest_full_year - 1 = previous.year
    left join target_values as first_actual
        on target_years.target_id = first_actual.target_id
        and target_years.assessment_year = first_actual.assessment_year
        and windows.first_value_year = first_actual.year

),

directed as (

    select
        *,
        -- the point the pace aims at: the target value; for `between` the bound nearest the baseline
        case
            when comparator = 'between' and baseline_value > target_value_high then target_value_high
            else target_value
        end as pace_target,
        case
            when comparator = '>=' then 1
            when comparator = '<=' then -1
            when comparator = 'between' and baseline_value > target_value_high then -1
            when comparator = 'between' and baseline_value < target_value then 1
            when comparator in ('=', '~') and target_value > baseline_value then 1
            when comparator in ('=', '~') and target_value < baseline_value then -1
            when direction = 'lower_is_better' then -1
            else 1
        end as direction_sign,
        case comparator
            when '>=' then actual_value >= target_value
            when '<=' then actual_value <= target_value
            when '=' then abs(actual_value - target_value)
                <= {{ var('target_equal_tolerance', 0.005) }} * abs(target_value)
            when '~' then abs(actual_value - target_value)
                <= {{ var('target_about_tolerance', 0.05) }} * abs(target_value)
            when 'between' then actual_value between target_value and target_value_high
        end as is_met,
        date_diff('month', baseline_date, deadline_date) / 12.0 as years_total,
        date_diff('month', baseline_date, actual_end_date) / 12.0 as years_elapsed

    from actuals

),

paced as (

    select
        *,
        case
            when progress_method = 'recurring' or baseline_value is null then null
            when progress_method = 'level' and baseline_value > 0 and actual_value > 0 and pace_target > 0
                then 'compound'
            else 'linear'
        end as pace_method

    from directed

),

rated as (

    select
        *,
        case
            when pace_method = 'compound' and years_total > 0
                then power(pace_target / baseline_value, 1 / years_total) - 1
            when pace_method = 'linear' and years_total > 0
                then (pace_target - baseline_value) / years_total
        end as required_annual_pace,
        case
            when pace_method = 'compound' and years_elapsed > 0
                then power(actual_value / baseline_value, 1 / years_elapsed) - 1
            when pace_method = 'linear' and years_elapsed > 0
                then (actual_value - baseline_value) / years_elapsed
        end as observed_annual_pace,
        case
            when comparator = 'between' and actual_value < target_value then actual_value / nullif(target_value, 0) * 100
            when comparator = 'between' and actual_value > target_value_high then target_value_high / nullif(actual_value, 0) * 100
            when comparator = 'between' and actual_value is not null then 100.0
            when direction_sign < 0 then target_value / nullif(actual_value, 0) * 100
            else actual_value / nullif(target_value, 0) * 100
        end as pct_achieved

    from paced

),

ratioed as (

    select
        *,
        direction_sign * observed_annual_pace / nullif(abs(required_annual_pace), 0) as progress_ratio

    from rated

),

classified as (

    select
        *,
        case
            when target_status = 'masked' then 'target_masked'
            when target_value is null then 'relative_target'
            when actual_obs_status = 'masked' then 'actual_masked'
            when actual_value is null then 'no_actual'
            when unit = '%' and actual_value not between 0 and 100 then 'implausible_actual'
            when is_met then 'met'
            when (progress_method = 'recurring' or actual_end_date >= deadline_date)
                -- beyond the target on the far side from where it was approached (direction_sign)
                and ((comparator in ('=', '~') and direction_sign * (actual_value - target_value) > 0)
                    or (comparator = 'between' and direction_sign > 0 and actual_value > target_value_high)
                    or (comparator = 'between' and direction_sign < 0 and actual_value < target_value))
                then 'exceeded'
            when progress_method = 'recurring' then 'not_met'
            when actual_end_date >= deadline_date then 'deadline_missed'
            when progress_ratio is null then 'no_trend'
            else 'progress_ratio'
        end as status_reason

    from ratioed

),

final as (

    select
        target_id,
        assessment_year,
        indicator_code,
        region_code,
        pillar_code,
        comparator,
        target_value,
        target_value_high,
        target_status,
        deadline_year,
        recurrence,
        kind,
        aggregation,
        direction,
        progress_method,
        plan_start_year,
        cast(actual_value as double) as actual_value,
        actual_obs_status,
        cast(actual_year as integer) as actual_year,
        actual_period_id,
        actual_end_date,
        actual_is_complete,
        cast(baseline_value as double) as baseline_value,
        cast(baseline_year as integer) as baseline_year,
        baseline_source,
        cast(pct_achieved as double) as pct_achieved,
        pace_method,
        cast(years_elapsed as double) as years_elapsed,
        cast(years_total as double) as years_total,
        cast(required_annual_pace as double) as required_annual_pace,
        cast(observed_annual_pace as double) as observed_annual_pace,
        cast(progress_ratio as double) as progress_ratio,
        is_met,
        case status_reason
            when 'target_masked' then 'target_masked'
            when 'met' then 'achieved'
            when 'not_met' then 'off_track'
            when 'exceeded' then 'off_track'
            when 'deadline_missed' then 'off_track'
            when 'progress_ratio' then
                case
                    when progress_ratio >= {{ var('progress_on_track_ratio', 0.95) }} then 'on_track'
                    when progress_ratio >= {{ var('progress_at_risk_ratio', 0.5) }} then 'at_risk'
                    else 'off_track'
                end
            else 'no_data'
        end as status,
        status_reason,
        is_conflicting,
        conflict_group

    from classified

)

select * from final
