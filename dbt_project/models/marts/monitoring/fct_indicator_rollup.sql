-- Indicator values rolled up the region hierarchy, one row per indicator × region × period, each
-- indicator by its own rule (dim_indicator.aggregation):
--   sum    the figures of the units add up. A region's value is its OWN figure - the sum of the
--          current figures reported for that region itself - when it has one, otherwise the sum of
--          its children's values (recursively). A region that has both keeps its own figure; the
--          children's sum is shown beside it with is_consistent_with_children. So a city department's
--          figure for 530700 is never added to its counties' figures (no double counting).
--   ratio  recomputed as sum(numerator) / sum(denominator) × 100 from the figures of its numerator
--          and denominator indicators - never an average of percentages. Rolled up as pairs: a
--          region has its own ratio figure when both parts were reported for it, so numerator and
--          denominator always cover the same regions (no 230000 numerator over a 230000 + 530000
--          denominator); the same own-figure rule then applies to the pairs.
--   none   not rolled up: a row only for the region the figure was reported for.
-- A masked input masks the aggregate (value null, obs_status masked); an expected submission (due
-- as of var as_of_date) without a figure makes it incomplete (n_reported < n_expected).
--
-- Implementation without recursion: every region D with inputs (own figures or due expected
-- submissions) finds the nearest ancestor above it that has an own figure; D's inputs count in the
-- value of each ancestor-or-self R closer than that ancestor, and in the children's sum of R when
-- R is that ancestor (or R has no own figure).
--
-- Incremental: every row of an indicator × period is a function of that indicator's (a ratio: also its
-- numerator's and denominator's) current figures and due expected submissions in that period, and of
-- the reference marts (unchanged between full builds). So an incremental build recomputes, whole, the
-- indicator × periods that tonight's files reported, or in which expected submissions fell due since
-- the base was built (between base_as_of_date and this build's as-of date), or that are ratios with such
-- a part, and replaces their rows (the pre-hook deletes them all, then the new ones are inserted); the
-- others are already right.
-- depends_on: {{ ref('stg_build__added_files') }}
-- depends_on: {{ ref('stg_build__info') }}
-- depends_on: {{ ref('stg_lake__submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['indicator_code', 'period_id'],
    on_schema_change='fail',
    pre_hook="{{ reform_monitoring_rollup_delete_touched() }}",
) }}

with

{% if is_incremental() %}
-- the indicator × periods to recompute (their old rows are deleted by the pre-hook, even when they
-- now have none)
touched as (

    {{ reform_monitoring_rollup_touched(ref('stg_build__added_files'), ref('stg_build__info')) }}

),

-- what those rows are computed from: their own inputs and, for a ratio, its parts'
input_keys as (

    select indicator_code, period_id from touched
    union
    select parts.part_code as indicator_code, touched.period_id
    from touched
    inner join {{ ref('dim_indicator') }} as ratios
        on touched.indicator_code = ratios.indicator_code
    cross join unnest([ratios.numerator_code, ratios.denominator_code]) as parts(part_code)
    where ratios.aggregation = 'ratio'

),
{% endif %}

observations as (

    select * from {{ ref('fct_indicator_observation') }}
    {% if is_incremental() %}
    semi join input_keys using (indicator_code, period_id)
    {% endif %}
    where is_current

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

expected_submissions as (

    select * from {{ ref('fct_expected_submission') }}
    {% if is_incremental() %}
    semi join input_keys using (indicator_code, period_id)
    {% endif %}
    where due_date < {{ reform_monitoring_as_of_date() }}

),

-- a region's own figure: what the units reported for the region itself, summed over the units
component_figures as (

    select
        observations.indicator_code,
        observations.region_code,
        observations.period_id,
        count(*) as n_observations,
        count(*) filter (where observations.obs_status = 'masked') as n_masked,
        count(*) filter (where observations.obs_status = 'estimated') as n_estimated,
        count(*) filter (where observations.obs_status = 'provisional') as n_provisional,
        count(observations.value) as n_values,
        sum(observations.value) as value_sum

    from observations
    inner join indicators
        on observations.indicator_code = indicators.indicator_code
    where indicators.aggregation in ('sum', 'none')
        -- a row with neither a value nor a mask (not applicable, missing) is not a figure
        and (observations.value is not null or observations.obs_status = 'masked')
    group by 1, 2, 3

),

-- a ratio's own figure at a region is a pair: both its numerator and its denominator were reported
-- for the region, so numerator and denominator always cover the same units and regions
ratio_figures as (

    select
        indicators.indicator_code,
        numerators.region_code,
        numerators.period_id,
        numerators.n_observations + denominators.n_observations as n_observations,
        numerators.n_masked + denominators.n_masked as n_masked,
        numerators.n_estimated + denominators.n_estimated as n_estimated,
        numerators.n_provisional + denominators.n_provisional as n_provisional,
        least(numerators.n_values, denominators.n_values) as n_values,
        cast(null as double) as value_sum,
        numerators.value_sum as numerator_sum,
        denominators.value_sum as denominator_sum

    from indicators
    inner join component_figures as numerators
        on indicators.numerator_code = numerators.indicator_code
    inner join component_figures as denominators
        on indicators.denominator_code = denominators.indicator_code
        and numerators.region_code = denominators.region_code
        and numerators.period_id = denominators.period_id
    where indicators.aggregation = 'ratio'

),

own_figures as (

    select
        *,
        cast(null as double) as numerator_sum,
        cast(null as double) as denominator_sum

    from component_figures
    union all
    select * from ratio_figures

),

received as (

    select distinct
        reporting_unit_code,
        indicator_code,
        period_id

    from observations

),

-- due expected submissions with whether they arrived; a ratio expects its numerator and denominator
expected_figures as (

    select
        indicators.indicator_code,
        expected_submissions.region_code,
        expected_submissions.period_id,
        received.reporting_unit_code is not null as is_reported

    from expected_submissions
    inner join indicators
        on expected_submissions.indicator_code = indicators.indicator_code
        or (indicators.aggregation = 'ratio'
            and expected_submissions.indicator_code in (indicators.numerator_code, indicators.denominator_code))
    left join received
        on expected_submissions.reporting_unit_code = received.reporting_unit_code
        and expected_submissions.indicator_code = received.indicator_code
        and expected_submissions.period_id = received.period_id

),

expected_inputs as (

    select
        indicator_code,
        region_code,
        period_id,
        count(*) as n_expected,
        count(*) filter (where is_reported) as n_reported

    from expected_figures
    group by 1, 2, 3

),

region_inputs as (

    select
        coalesce(own_figures.indicator_code, expected_inputs.indicator_code) as indicator_code,
        coalesce(own_figures.region_code, expected_inputs.region_code) as region_code,
        coalesce(own_figures.period_id, expected_inputs.period_id) as period_id,
        own_figures.region_code is not null as has_own_figure,
        coalesce(own_figures.n_observations, 0) as n_observations,
        coalesce(own_figures.n_masked, 0) as n_masked,
        coalesce(own_figures.n_estimated, 0) as n_estimated,
        coalesce(own_figures.n_provisional, 0) as n_provisional,
        coalesce(own_figures.n_values, 0) as n_values,
        own_figures.value_sum,
        own_figures.numerator_sum,
        own_figures.denominator_sum,
        coalesce(expected_inputs.n_expected, 0) as n_expected,
        coalesce(expected_inputs.n_reported, 0) as n_reported

    from own_figures
    full outer join expected_inputs
        on own_figures.indicator_code = expected_inputs.indicator_code
        and own_figures.region_code = expected_inputs.region_code
        and own_figures.period_id = expected_inputs.period_id

),

-- the nearest ancestor (1 step up or more) of each input region that has an own figure
nearest_own_ancestors as (

    select
        region_inputs.indicator_code,
        region_inputs.region_code,
        region_inputs.period_id,
        min(region_ancestors.distance) as own_ancestor_distance

    from region_inputs
    inner join region_ancestors
        on region_inputs.region_code = region_ancestors.region_code
        and region_ancestors.distance > 0
    inner join own_figures
        on region_ancestors.ancestor_code = own_figures.region_code
        and region_inputs.indicator_code = own_figures.indicator_code
        and region_inputs.period_id = own_figures.period_id
    group by 1, 2, 3

),

contributions as (

    select
        region_inputs.*,
        indicators.aggregation,
        region_ancestors.ancestor_code,
        region_ancestors.distance,
        case
            when indicators.aggregation = 'none' then region_ancestors.distance = 0
            else region_ancestors.distance < coalesce(nearest_own_ancestors.own_ancestor_distance, 999)
        end as counts_in_value,
        indicators.aggregation <> 'none'
            and region_ancestors.distance >= 1
            and region_ancestors.distance <= coalesce(nearest_own_ancestors.own_ancestor_distance, 999)
            as counts_in_children

    from region_inputs
    inner join indicators
        on region_inputs.indicator_code = indicators.indicator_code
    inner join region_ancestors
        on region_inputs.region_code = region_ancestors.region_code
    left join nearest_own_ancestors
        on region_inputs.indicator_code = nearest_own_ancestors.indicator_code
        and region_inputs.region_code = nearest_own_ancestors.region_code
        and region_inputs.period_id = nearest_own_ancestors.period_id

),

summed as (

    select
        indicator_code,
        ancestor_code as region_code,
        period_id,
        any_value(aggregation) as aggregation,
        bool_or(distance = 0 and has_own_figure) as has_own_figure,
        sum(n_observations) filter (where counts_in_value) as n_contributing,
        sum(n_masked) filter (where counts_in_value) as n_masked,
        sum(n_estimated) filter (where counts_in_value) as n_estimated,
        sum(n_provisional) filter (where counts_in_value) as n_provisional,
        sum(n_values) filter (where counts_in_value) as n_values,
        sum(value_sum) filter (where counts_in_value) as value_sum,
        sum(numerator_sum) filter (where counts_in_value) as numerator_sum,
        sum(denominator_sum) filter (where counts_in_value) as denominator_sum,
        sum(n_expected) filter (where counts_in_value) as n_expected,
        sum(n_reported) filter (where counts_in_value) as n_reported,
        sum(n_observations) filter (where counts_in_children) as n_children_contributing,
        sum(n_masked) filter (where counts_in_children) as n_children_masked,
        sum(value_sum) filter (where counts_in_children) as children_value_sum,
        sum(numerator_sum) filter (where counts_in_children) as children_numerator_sum,
        sum(denominator_sum) filter (where counts_in_children) as children_denominator_sum

    from contributions
    group by 1, 2, 3
    having bool_or(counts_in_value)

),

valued as (

    select
        *,
        case
            when n_masked > 0 then null
            when aggregation = 'ratio' then {{ reform_monitoring_ratio('numerator_sum', 'denominator_sum') }}
            when aggregation = 'none' and n_values > 1 then null
            else value_sum
        end as value,
        case
            when coalesce(n_children_masked, 0) > 0 then null
            when aggregation = 'ratio'
                then {{ reform_monitoring_ratio('children_numerator_sum', 'children_denominator_sum') }}
            else children_value_sum
        end as children_value

    from summed

),

final as (

    select
        md5(concat_ws('|', valued.indicator_code, valued.region_code, valued.period_id)) as rollup_id,
        valued.indicator_code,
        valued.region_code,
        valued.period_id,
        valued.aggregation,
        cast(valued.value as double) as value,
        indicators.unit,
        {{ reform_monitoring_aggregate_status(
            'valued.n_masked', 'valued.value', 'valued.n_estimated', 'valued.n_provisional',
            "valued.aggregation = 'none' and valued.n_values > 1") }} as obs_status,
        case
            when valued.has_own_figure then 'own'
            when valued.n_contributing > 0 then 'children'
        end as value_source,
        cast(valued.n_contributing as integer) as n_contributing,
        cast(valued.n_masked as integer) as n_masked,
        cast(valued.n_expected as integer) as n_expected,
        cast(valued.n_reported as integer) as n_reported,
        valued.n_reported = valued.n_expected as is_complete,
        cast(valued.children_value as double) as children_value,
        cast(coalesce(valued.n_children_contributing, 0) as integer) as n_children_contributing,
        case
            when valued.has_own_figure and valued.value is not null and valued.children_value is not null
                then abs(valued.value - valued.children_value)
                    <= 1e-9 * greatest(1.0, abs(valued.value), abs(valued.children_value))
        end as is_consistent_with_children,
        case when valued.n_masked = 0 then cast(valued.numerator_sum as double) end as numerator_value,
        case when valued.n_masked = 0 then cast(valued.denominator_sum as double) end as denominator_value,
        cast(valued.n_estimated as integer) as n_estimated,
        cast(valued.n_provisional as integer) as n_provisional,
        -- a rate outside 0-100 % is impossible: its parts disagree (often reported by two departments)
        case
            when indicators.unit = '%' and valued.value is not null then valued.value between 0 and 100
        end as is_rate_in_range

    from valued
    inner join indicators
        on valued.indicator_code = indicators.indicator_code
    {% if is_incremental() %}
    semi join touched
        on valued.indicator_code = touched.indicator_code
        and valued.period_id = touched.period_id
    {% endif %}

)

select * from final
