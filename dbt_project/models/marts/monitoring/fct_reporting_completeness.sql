-- One row per expected submission (fct_expected_submission: obligation × period, with its due date)
-- and whether, when and how often it was submitted. A submission is any accepted row of the unit
-- for the indicator and period (joined on reporting unit, indicator and period; masked and
-- not-applicable cells count as submitted - the unit answered). received_at is UTC; the due date is
-- a Shanghai calendar date, so a file is on time when its first receipt, in Asia/Shanghai, falls on
-- or before the due date. Only rows with is_due (the due date ended before var as_of_date) count in
-- completeness and timeliness rates.
--
-- Incremental: a row changes when tonight's files reported its unit, indicator and period, or when its
-- due date lies between the base release's as-of date and this build's (is_due flips); those rows are
-- recomputed and replace theirs (delete+insert on expected_submission_id). as_of_date, the same on every
-- row, is then set to this build's date on the others (post-hook). fct_expected_submission is a
-- reference mart, unchanged between full builds.
-- depends_on: {{ ref('stg_build__added_files') }}
-- depends_on: {{ ref('stg_build__info') }}
-- depends_on: {{ ref('stg_lake__submissions') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='expected_submission_id',
    on_schema_change='fail',
    post_hook="{% if is_incremental() %}update {{ this }} set as_of_date = {{ reform_monitoring_as_of_date() }} where as_of_date is distinct from {{ reform_monitoring_as_of_date() }}{% endif %}",
) }}

with

{% if is_incremental() %}
reported_tonight as (

    select distinct reporting_unit_code, indicator_code, period_id
    from {{ ref('stg_lake__submissions') }}
    semi join {{ ref('stg_build__added_files') }} using (file_sha256)

),
{% endif %}

expected_submissions as (

    select * from {{ ref('fct_expected_submission') }} as expected
    {% if is_incremental() %}
    where exists (
        select 1 from reported_tonight
        where reported_tonight.reporting_unit_code = expected.reporting_unit_code
            and reported_tonight.indicator_code = expected.indicator_code
            and reported_tonight.period_id = expected.period_id
    )
        or exists (
            select 1 from {{ ref('stg_build__info') }} as build
            where {{ reform_monitoring_fell_due('expected.due_date', 'build.base_as_of_date') }}
        )
    {% endif %}

),

observations as (

    select * from {{ ref('fct_indicator_observation') }}

),

-- only the figures some obligation expects count; filtering before the aggregates keeps them small
-- (at province scale a tenth of the ten million versions are expected: 1 s instead of 4)
expected_observations as (

    select reporting_unit_code, indicator_code, period_id, file_sha256, received_at
    from observations
    semi join expected_submissions using (reporting_unit_code, indicator_code, period_id)

),

-- one row per file that reported the figure (a version), then one per figure: two plain aggregates
-- spill to disk at province scale, where a count(distinct …) over ten million rows ran out of memory
versions as (

    select
        reporting_unit_code,
        indicator_code,
        period_id,
        file_sha256,
        min(received_at) as received_at

    from expected_observations
    group by 1, 2, 3, 4

),

submissions as (

    select
        reporting_unit_code,
        indicator_code,
        period_id,
        min(received_at) as first_received_at,
        max(received_at) as last_received_at,
        count(*) as n_versions

    from versions
    group by 1, 2, 3

),

joined as (

    select
        expected_submissions.*,
        submissions.first_received_at,
        submissions.last_received_at,
        submissions.n_versions,
        submissions.reporting_unit_code is not null as is_submitted,
        {{ reform_monitoring_local_date('submissions.first_received_at') }} as first_received_date,
        {{ reform_monitoring_as_of_date() }} as as_of_date

    from expected_submissions
    left join submissions
        on expected_submissions.reporting_unit_code = submissions.reporting_unit_code
        and expected_submissions.indicator_code = submissions.indicator_code
        and expected_submissions.period_id = submissions.period_id

),

final as (

    select
        expected_submission_id,
        reporting_unit_code,
        region_code,
        indicator_code,
        period_id,
        periodicity,
        cast(year(period_start_date) as integer) as period_year,
        period_end_date,
        due_date,
        as_of_date,
        due_date < as_of_date as is_due,
        is_submitted,
        first_received_at,
        first_received_date,
        coalesce(is_submitted and first_received_date <= due_date, false) as is_on_time,
        case
            when is_submitted then cast(greatest(0, date_diff('day', due_date, first_received_date)) as integer)
        end as days_late,
        cast(coalesce(n_versions, 0) as integer) as n_versions,
        last_received_at

    from joined

)

select * from final
