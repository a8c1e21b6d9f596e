-- One row per target (fct_target): the current assessment - with all the data of the years up to
-- the year of var as_of_date - of progress towards it at the target's region, from the roll-up.
-- The methods, formulas and thresholds are documented on int_targets_assessed and in the YAML.
with

assessments as (

    select * from {{ ref('int_targets_assessed') }}

),

targets as (

    select * from {{ ref('fct_target') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

current_assessments as (

    select * from assessments
    where assessment_year = year({{ reform_monitoring_as_of_date() }})

),

final as (

    select
        targets.target_id,
        targets.indicator_code,
        targets.region_code,
        indicators.pillar_code,
        targets.comparator,
        targets.target_value,
        targets.target_value_high,
        targets.unit,
        targets.status as target_status,
        targets.deadline_year,
        targets.recurrence,
        current_assessments.progress_method,
        current_assessments.plan_start_year,
        current_assessments.actual_value,
        current_assessments.actual_obs_status,
        current_assessments.actual_year,
        current_assessments.actual_period_id,
        current_assessments.actual_is_complete,
        current_assessments.baseline_value,
        current_assessments.baseline_year,
        current_assessments.baseline_source,
        current_assessments.pct_achieved,
        current_assessments.pace_method,
        current_assessments.years_elapsed,
        current_assessments.years_total,
        current_assessments.required_annual_pace,
        current_assessments.observed_annual_pace,
        current_assessments.progress_ratio,
        -- a plan period that starts after the as-of year has no assessment yet
        coalesce(current_assessments.status, 'no_data') as status,
        coalesce(current_assessments.status_reason, 'not_started') as status_reason,
        {{ reform_monitoring_as_of_date() }} as as_of_date,
        targets.is_conflicting,
        targets.conflict_group,
        targets.source_document,
        targets.source_section

    from targets
    inner join indicators
        on targets.indicator_code = indicators.indicator_code
    left join current_assessments
        on targets.target_id = current_assessments.target_id

)

select * from final
