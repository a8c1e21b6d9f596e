-- Survey estimates with their precision (调查估计值及其抽样误差), one row per survey year × region ×
-- worker group × measure, from the answers in long form (int_survey_responses_measured). Regions
-- are rolled up through bridge_region_ancestor (the respondents of a region and all regions below
-- it); worker_group_code '_T' = all respondents (those whose group is not stated count only there).
-- For a domain d with n answers y_i and design weights w_i:
--   estimate        ȳ_w = Σ w_i y_i / Σ w_i - the weighted (Hájek) mean; for a yes/no measure
--                   (y = 0/1) the weighted proportion, a fraction 0-1
--   standard_error  SE = sqrt( n / (n - 1) · Σ w_i² (y_i - ȳ_w)² ) / Σ w_i - Taylor linearisation of
--                   the ratio Σ w y / Σ w, with-replacement approximation, each respondent its own
--                   primary sampling unit, no strata and no finite-population correction (what R
--                   survey's svymean gives for svydesign(ids = ~1, weights = ~w)); the domain is
--                   taken as its own sample. Null when n = 1.
--   ci_lower/upper  ȳ_w ∓ z · SE with z = 1.959963984540054 (two-sided 95 %, normal approximation);
--                   for proportions clipped to [0, 1]
-- Suppression: an estimate whose unweighted base n is below var survey_min_unweighted_base (default
-- 30) is not published - estimate, SE, interval and sum of weights null, is_suppressed true; the
-- base n itself is shown.
with

answers as (

    select * from {{ ref('int_survey_responses_measured') }}

),

region_ancestors as (

    select * from {{ ref('bridge_region_ancestor') }}

),

-- each answer in every domain it belongs to: its region and ancestors × all respondents and its group
domain_answers as (

    select
        answers.survey_year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        '_T' as worker_group_code,
        answers.measure_code,
        answers.measure_name_zh,
        answers.measure_name_en,
        answers.estimate_type,
        answers.unit,
        answers.y,
        answers.design_weight

    from answers
    inner join region_ancestors
        on answers.region_code = region_ancestors.region_code

    union all

    select
        answers.survey_year,
        region_ancestors.ancestor_code as region_code,
        region_ancestors.ancestor_level as region_level,
        answers.worker_group_code,
        answers.measure_code,
        answers.measure_name_zh,
        answers.measure_name_en,
        answers.estimate_type,
        answers.unit,
        answers.y,
        answers.design_weight

    from answers
    inner join region_ancestors
        on answers.region_code = region_ancestors.region_code
    where answers.worker_group_code is not null

),

-- the domain's weighted mean beside every answer, for the linearised variable w_i (y_i - ȳ_w)
centred as (

    select
        *,
        sum(design_weight * y) over domain / sum(design_weight) over domain as domain_mean

    from domain_answers
    window domain as (partition by survey_year, region_code, worker_group_code, measure_code)

),

estimated as (

    select
        survey_year,
        region_code,
        region_level,
        worker_group_code,
        measure_code,
        any_value(measure_name_zh) as measure_name_zh,
        any_value(measure_name_en) as measure_name_en,
        any_value(estimate_type) as estimate_type,
        any_value(unit) as unit,
        count(*) as n_unweighted,
        sum(design_weight) as sum_weights,
        sum(design_weight * y) / sum(design_weight) as estimate,
        case
            when count(*) > 1
                then sqrt(count(*) / (count(*) - 1.0) * sum(power(design_weight * (y - domain_mean), 2)))
                    / sum(design_weight)
        end as standard_error

    from centred
    group by survey_year, region_code, region_level, worker_group_code, measure_code

),

intervals as (

    select
        *,
        n_unweighted < {{ reform_stats_survey_min_base() }} as is_suppressed,
        estimate - {{ reform_stats_survey_z() }} * standard_error as ci_lower_raw,
        estimate + {{ reform_stats_survey_z() }} * standard_error as ci_upper_raw

    from estimated

),

final as (

    select
        md5(concat_ws('|', survey_year, region_code, worker_group_code, measure_code)) as survey_estimate_id,
        cast(survey_year as integer) as survey_year,
        region_code,
        region_level,
        worker_group_code,
        measure_code,
        measure_name_zh,
        measure_name_en,
        estimate_type,
        unit,
        cast(n_unweighted as integer) as n_unweighted,
        cast({{ reform_stats_suppress('sum_weights', 'is_suppressed') }} as double) as sum_weights,
        cast({{ reform_stats_suppress('estimate', 'is_suppressed') }} as double) as estimate,
        cast({{ reform_stats_suppress('standard_error', 'is_suppressed') }} as double) as standard_error,
        cast({{ reform_stats_suppress(
            "case when estimate_type = 'proportion' then greatest(ci_lower_raw, 0.0) else ci_lower_raw end",
            'is_suppressed') }} as double) as ci_lower,
        cast({{ reform_stats_suppress(
            "case when estimate_type = 'proportion' then least(ci_upper_raw, 1.0) else ci_upper_raw end",
            'is_suppressed') }} as double) as ci_upper,
        cast({{ reform_stats_suppress(reform_stats_survey_z() ~ ' * standard_error', 'is_suppressed') }} as double)
            as margin_of_error,
        cast({{ reform_stats_suppress('standard_error / nullif(estimate, 0)', 'is_suppressed') }} as double)
            as relative_standard_error,
        is_suppressed

    from intervals

)

select * from final
