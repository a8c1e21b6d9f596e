-- The per-region scorecard (地区监测记分卡), one row per region × pillar × year, ready for a BI tool:
--   targets   the region's own targets of the pillar by status, as assessed with the data of the
--             years up to that year (int_targets_assessed; the as_of year is the current status);
--   reporting completeness and timeliness of the pillar's expected submissions of that year by the
--             units in the region or below it (DHIS2: submitted / expected, on time / expected);
--   headline  the pillar's headline indicator (var scorecard_headline_indicators) at the region in
--             that year, from the roll-up, whether every period of the year is in it (a quarterly
--             flow summed over the quarters that arrived is not the year's value), and how many of
--             the pillar's indicators have a figure.
-- Counts add up across pillars and regions of one level; rates do not (recompute them from counts).
with

assessments as (

    select * from {{ ref('int_targets_assessed') }}

),

completeness as (

    select * from {{ ref('fct_reporting_completeness') }}
    where is_due

),

yearly_values as (

    select * from {{ ref('int_indicator_values_annualized') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

regions as (

    select * from {{ ref('dim_region') }}

),

{%- set default_headlines = {
    'ideology': 'new_party_members_workers',
    'rights_status': 'collective_bargaining_coverage_rate',
    'contribution': 'innovation_studios_city_level',
    'skills': 'high_skill_talents_total',
    'growth': 'urban_new_jobs',
} %}
{%- set headlines = var('scorecard_headline_indicators', default_headlines) %}

headline_indicators as (

    select * from (values
        {%- for pillar, indicator in headlines.items() %}
        ('{{ pillar }}', '{{ indicator }}'){{ ',' if not loop.last }}
        {%- endfor %}
    ) as headlines (pillar_code, indicator_code)

),

target_counts as (

    select
        region_code,
        pillar_code,
        assessment_year as year,
        count(*) as n_targets,
        count(*) filter (where status = 'achieved') as n_achieved,
        count(*) filter (where status = 'on_track') as n_on_track,
        count(*) filter (where status = 'at_risk') as n_at_risk,
        count(*) filter (where status = 'off_track') as n_off_track,
        count(*) filter (where status = 'no_data') as n_no_data,
        count(*) filter (where status = 'target_masked') as n_target_masked,
        avg(least(pct_achieved, 100.0)) as mean_pct_achieved

    from assessments
    group by 1, 2, 3

),

completeness_counts as (

    select
        region_ancestors.ancestor_code as region_code,
        indicators.pillar_code,
        completeness.period_year as year,
        count(*) as n_expected_submissions,
        count(*) filter (where completeness.is_submitted) as n_submitted,
        count(*) filter (where completeness.is_on_time) as n_on_time

    from completeness
    inner join region_ancestors
        on completeness.region_code = region_ancestors.region_code
    inner join indicators
        on completeness.indicator_code = indicators.indicator_code
    group by 1, 2, 3

),

indicator_counts as (

    select
        yearly_values.region_code,
        indicators.pillar_code,
        yearly_values.year,
        count(distinct yearly_values.indicator_code) filter (where yearly_values.value is not null)
            as n_indicators_with_data

    from yearly_values
    inner join indicators
        on yearly_values.indicator_code = indicators.indicator_code
    group by 1, 2, 3

),

scorecard_keys as (

    select region_code, pillar_code, year from target_counts
    union
    select region_code, pillar_code, year from completeness_counts

),

final as (

    select
        md5(concat_ws('|', scorecard_keys.region_code, scorecard_keys.pillar_code, scorecard_keys.year))
            as scorecard_id,
        scorecard_keys.region_code,
        regions.name_zh as region_name_zh,
        regions.level as region_level,
        scorecard_keys.pillar_code,
        cast(scorecard_keys.year as integer) as year,
        cast(coalesce(target_counts.n_targets, 0) as integer) as n_targets,
        cast(coalesce(target_counts.n_achieved, 0) as integer) as n_achieved,
        cast(coalesce(target_counts.n_on_track, 0) as integer) as n_on_track,
        cast(coalesce(target_counts.n_at_risk, 0) as integer) as n_at_risk,
        cast(coalesce(target_counts.n_off_track, 0) as integer) as n_off_track,
        cast(coalesce(target_counts.n_no_data, 0) as integer) as n_no_data,
        cast(coalesce(target_counts.n_target_masked, 0) as integer) as n_target_masked,
        cast(target_counts.mean_pct_achieved as double) as mean_pct_achieved,
        cast(coalesce(completeness_counts.n_expected_submissions, 0) as integer) as n_expected_submissions,
        cast(coalesce(completeness_counts.n_submitted, 0) as integer) as n_submitted,
        cast(coalesce(completeness_counts.n_on_time, 0) as integer) as n_on_time,
        cast(100.0 * completeness_counts.n_submitted / nullif(completeness_counts.n_expected_submissions, 0)
            as double) as completeness_rate,
        cast(100.0 * completeness_counts.n_on_time / nullif(completeness_counts.n_expected_submissions, 0)
            as double) as timeliness_rate,
        cast(coalesce(indicator_counts.n_indicators_with_data, 0) as integer) as n_indicators_with_data,
        headline_indicators.indicator_code as headline_indicator_code,
        cast(headline_values.value as double) as headline_value,
        headline_units.unit as headline_unit,
        headline_values.obs_status as headline_obs_status,
        headline_values.is_full_year as headline_is_full_year

    from scorecard_keys
    left join regions
        on scorecard_keys.region_code = regions.region_code
    left join target_counts
        on scorecard_keys.region_code = target_counts.region_code
        and scorecard_keys.pillar_code = target_counts.pillar_code
        and scorecard_keys.year = target_counts.year
    left join completeness_counts
        on scorecard_keys.region_code = completeness_counts.region_code
        and scorecard_keys.pillar_code = completeness_counts.pillar_code
        and scorecard_keys.year = completeness_counts.year
    left join indicator_counts
        on scorecard_keys.region_code = indicator_counts.region_code
        and scorecard_keys.pillar_code = indicator_counts.pillar_code
        and scorecard_keys.year = indicator_counts.year
    left join headline_indicators
        on scorecard_keys.pillar_code = headline_indicators.pillar_code
    left join indicators as headline_units
        on headline_indicators.indicator_code = headline_units.indicator_code
    left join yearly_values as headline_values
        on headline_indicators.indicator_code = headline_values.indicator_code
        and scorecard_keys.region_code = headline_values.region_code
        and scorecard_keys.year = headline_values.year

)

select * from final
