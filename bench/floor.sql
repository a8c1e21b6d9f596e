-- The floor (issue #8): one hand-written DuckDB script that reads the generated portal data straight
-- from its files - the forms in DATA/inbox/*.csv, the register in DATA/register/, the worker records
-- in DATA/inbox/microdata/workers/ and the reference seeds - and computes the four core marts in the
-- canonical shapes of bench/compare.py:
--
--   floor_observation_current   the current version of every accepted form cell
--   floor_completeness          every expected submission: submitted, on time, how late, versions
--   floor_target_progress       every target assessed at the as-of year, from the roll-up
--   floor_skill_pyramid         workers by year × region × industry section × skill grade, k-suppressed
--
-- It applies the rules the pipeline applies to these inputs (ingest/normalize.py, submissions.py,
-- microdata.py and the dbt models), as far as the generated data can exercise them; every rule that is
-- left out says so where it would be. DuckDB built-ins only (icu for the Shanghai calendar date).
--
-- Parameters (DuckDB variables, set by bench/floor.py):
--   data_dir       the generated data folder (register/ and inbox/)
--   seeds_dir      dbt_project/seeds/reference
--   workers_files  list of the worker-record CSV files, all UTF-8 (DuckDB's reader does not read
--                  GB18030; bench/floor.py hands over UTF-8 copies, as the pipeline's ingest does)
--   as_of_date     the date monitoring is judged at: the pipeline's as_of_date (its build day in
--                  Shanghai)
--   received_on    the day the pipeline received the worker records (no birth or title year after
--                  it; a record without a reference year belongs to its year)
--   disclosure_k   the small-cell threshold k of the pyramid (dbt var stats_disclosure_k)


-- =====================================================================================================
-- Reference data: the seeds, plus the units and obligations the province registered
-- =====================================================================================================

create or replace temp table ref_indicators as
select
    indicator_code,
    pillar_code,
    unit,
    kind,
    aggregation,
    numerator_code,
    denominator_code,
    direction,
    periodicity
from read_csv(getvariable('seeds_dir') || '/indicators.csv', header = true, all_varchar = true);

create or replace temp table ref_regions as
select region_code, parent_code, level, valid_to
from read_csv(getvariable('seeds_dir') || '/regions.csv', header = true, all_varchar = true);

-- every region with itself (distance 0) and each ancestor up to the nation
create or replace temp table ref_region_ancestors as
with recursive walk (region_code, ancestor_code, distance) as (
    select region_code, region_code, 0
    from ref_regions
    union all
    select walk.region_code, parents.parent_code, walk.distance + 1
    from walk
    inner join ref_regions as parents
        on walk.ancestor_code = parents.region_code
    where parents.parent_code is not null
        and walk.distance < 10
)
select walk.region_code, walk.ancestor_code, walk.distance, ancestors.level as ancestor_level
from walk
inner join ref_regions as ancestors
    on walk.ancestor_code = ancestors.region_code;

create or replace temp table ref_units as
select upper(trim(unit_code)) as reporting_unit_code, region_code
from read_csv(
    [getvariable('seeds_dir') || '/reporting_units.csv', getvariable('data_dir') || '/register/reporting_units.csv'],
    header = true, all_varchar = true, union_by_name = true
);

create or replace temp table ref_obligations as
select
    upper(trim(unit_code)) as reporting_unit_code,
    lower(trim(indicator_code)) as indicator_code,
    periodicity,
    cast(first_year as integer) as first_year,
    cast(last_year as integer) as last_year,
    cast(due_days_after_period_end as integer) as due_days
from read_csv(
    [getvariable('seeds_dir') || '/reporting_obligations.csv',
        getvariable('data_dir') || '/register/reporting_obligations.csv'],
    header = true, all_varchar = true, union_by_name = true
);

-- the reporting calendar 2016-2035 (dim_period)
create or replace temp table ref_periods as
with
years as (select unnest(range(2016, 2036)) as year),
periods as (
    select 'annual' as period_type, year, cast(year as varchar) as period_id, make_date(year, 1, 1) as start_date,
        12 as months
    from years
    union all
    select 'half_year', year, year || '-S' || n, make_date(year, 6 * (n - 1) + 1, 1), 6
    from years, range(1, 3) as t(n)
    union all
    select 'quarter', year, year || '-Q' || n, make_date(year, 3 * (n - 1) + 1, 1), 3
    from years, range(1, 5) as t(n)
    union all
    select 'month', year, year || '-M' || lpad(cast(n as varchar), 2, '0'), make_date(year, n, 1), 1
    from years, range(1, 13) as t(n)
)
select
    period_id,
    period_type,
    cast(year as integer) as year,
    start_date,
    cast(start_date + to_months(months) - interval 1 day as date) as end_date,
    case period_type when 'annual' then 1 when 'half_year' then 2 when 'quarter' then 4 else 12 end
        as periods_per_year
from periods;


-- =====================================================================================================
-- The forms: one CSV per unit and period, <unit>_<period>[_v2].csv, in the portal's fixed layout
-- 单位代码,报告期,指标代码,指标名称,数值,计量单位,备注,填报日期 (the pipeline finds the columns by their
-- header names; the portal always writes this header)
-- =====================================================================================================

create or replace temp table form_rows as
with

cells as (
    select
        parse_filename(filename) as file_name,
        upper(trim(unit_text)) as reporting_unit_code,
        regexp_replace(coalesce(period_text, ''), '\s+', '', 'g') as period_text,
        lower(trim(indicator_text)) as indicator_code,
        regexp_replace(coalesce(value_text, ''), '\s+', '', 'g') as value_text,
        -- with --historical, a form counts as received at 18:00 Shanghai (10:00 UTC) on its 填报日期
        try_strptime(trim(filled_on), '%Y-%m-%d') + interval 10 hour as received_at
    from read_csv(
        getvariable('data_dir') || '/inbox/*.csv',
        header = true, auto_detect = false, delim = ',', quote = '"', filename = true,
        columns = {
            'unit_text': 'varchar', 'period_text': 'varchar', 'indicator_text': 'varchar', 'name_text': 'varchar',
            'value_text': 'varchar', 'uom_text': 'varchar', 'note_text': 'varchar', 'filled_on': 'varchar'
        }
    )
),

-- 报告期 → SDMX period id: 2025年3月, 2025年第一季度 / 2025年第1季度, 2025年上半年, 2025年 (and canonical ids)
periods as (
    select
        *,
        case
            when regexp_full_match(period_text, '\d{4}年\d{1,2}月份?')
                and try_cast(regexp_extract(period_text, '年(\d{1,2})月', 1) as integer) between 1 and 12
                then left(period_text, 4) || '-M' || lpad(regexp_extract(period_text, '年(\d{1,2})月', 1), 2, '0')
            when regexp_full_match(period_text, '\d{4}年?第?[1-4一二三四]季度?')
                then left(period_text, 4) || '-Q'
                    || translate(regexp_extract(period_text, '([1-4一二三四])季', 1), '一二三四', '1234')
            when regexp_full_match(period_text, '\d{4}年?[上下]半年')
                then left(period_text, 4) || case when period_text like '%上半年' then '-S1' else '-S2' end
            when regexp_full_match(period_text, '\d{4}(年|年度)?') then left(period_text, 4)
            when regexp_full_match(period_text, '\d{4}-(M(0[1-9]|1[0-2])|Q[1-4]|S[12])') then period_text
        end as period_id,
        -- most cells are plain numbers: they skip the rest of the parsing
        regexp_full_match(value_text, '[+-]?(\d+(\.\d+)?|\.\d+)') as is_plain
    from cells
),

-- 数值 → status and value (ingest.normalize.parse_value): blank is missing; — / - 不适用 … not applicable;
-- anything with * and (略) … masked (no value); a (p)/(e) suffix marks provisional/estimated figures;
-- "1,234" loses its thousands separators; any other text is not a number and the row is refused.
-- Not replicated (the portal never writes them): 千/万/亿 multipliers, units written after the number,
-- a 计量单位 other than the catalog's (unit conversion), indicators given by name without a code.
statuses as (
    select
        *,
        case
            when is_plain then 'normal'
            when value_text = '' then 'missing'
            when lower(value_text) in ('—', '——', '-', '--', '–', '/', '／', '不适用', 'n/a', 'na', '无此项')
                then 'not_applicable'
            when value_text like '%*%' or value_text in ('(略)', '略', '保密', '(保密)') then 'masked'
            when regexp_matches(lower(value_text), '\((p|初步)\)$') then 'provisional'
            when regexp_matches(lower(value_text), '\((e|估|预计)\)$') then 'estimated'
            else 'normal'
        end as obs_status
    from periods
),

numbers as (
    select
        *,
        -- the number without its status suffix
        case when is_plain then value_text else regexp_replace(value_text, '\(([pPeE]|初步|估|预计)\)$', '') end
            as number_text
    from statuses
),

-- and without its thousands separators
plain_numbers as (
    select
        *,
        case
            when is_plain then number_text
            when regexp_full_match(number_text, '[+-]?\d{1,3}(,\d{3})+(\.\d+)?') then replace(number_text, ',', '')
            else number_text
        end as plain_text
    from numbers
)

select
    numbers.file_name,
    numbers.reporting_unit_code,
    units.region_code,
    numbers.period_id,
    numbers.indicator_code,
    case when numbers.obs_status in ('normal', 'provisional', 'estimated') then try_cast(numbers.plain_text as double)
    end as value,
    numbers.obs_status,
    -- a file's receipt time is the one 填报日期 it states
    min(numbers.received_at) over (partition by numbers.file_name) as received_at

from plain_numbers as numbers
-- unknown indicator or unit: refused
inner join ref_indicators as indicators
    on numbers.indicator_code = indicators.indicator_code
inner join ref_units as units
    on numbers.reporting_unit_code = units.reporting_unit_code
where numbers.period_id is not null
    and cast(left(numbers.period_id, 4) as integer) between 2016 and 2035
    and (numbers.is_plain
        or numbers.obs_status not in ('normal', 'provisional', 'estimated')
        or regexp_full_match(numbers.plain_text, '[+-]?(\d+(\.\d+)?|\.\d+)'));
-- Not replicated: a second row for the same indicator in one file is refused as duplicate_row (the
-- portal never writes one), and a byte-identical file is ingested once (portal files never repeat).


-- =====================================================================================================
-- Versions: a later form for the same unit, period and indicator is a resubmission. The pipeline orders
-- versions by receipt time, then file hash; _v2 forms are dated days later, so the file name suffices.
-- =====================================================================================================

create or replace temp table observation_versions as
select
    reporting_unit_code,
    region_code,
    period_id,
    indicator_code,
    count(*) as n_versions,
    min(received_at) as first_received_at,
    max(received_at) as last_received_at,
    arg_max(
        {'value': value, 'obs_status': obs_status, 'received_at': received_at, 'file_name': file_name},
        (received_at, file_name)
    ) as current_version
from form_rows
group by all;

create or replace table floor_observation_current as
select
    indicator_code,
    region_code,
    period_id,
    reporting_unit_code,
    current_version.value as value,
    current_version.obs_status as obs_status,
    cast(n_versions as integer) as version,
    current_version.received_at as received_at,
    current_version.file_name as file_name
from observation_versions;


-- =====================================================================================================
-- Completeness: every obligation × period of its periodicity, due N days after the period ends; a
-- submission is any accepted row of the unit for the indicator and period (masked and not applicable
-- count: the unit answered). On time when first received, on the Shanghai calendar, by the due date.
-- =====================================================================================================

create or replace temp table expected_submissions as
select
    obligations.reporting_unit_code,
    units.region_code,
    obligations.indicator_code,
    periods.period_id,
    obligations.periodicity,
    periods.period_type,
    periods.year as period_year,
    periods.end_date as period_end_date,
    cast(periods.end_date + obligations.due_days as date) as due_date
from ref_obligations as obligations
inner join ref_periods as periods
    on obligations.periodicity = periods.period_type
    and periods.year between obligations.first_year and obligations.last_year
left join ref_units as units
    on obligations.reporting_unit_code = units.reporting_unit_code;

create or replace table floor_completeness as
with
joined as (
    select
        expected.*,
        versions.first_received_at,
        versions.last_received_at,
        versions.n_versions,
        versions.reporting_unit_code is not null as is_submitted,
        cast(timezone('Asia/Shanghai', timezone('UTC', versions.first_received_at)) as date) as first_received_date,
        cast(getvariable('as_of_date') as date) as as_of_date
    from expected_submissions as expected
    left join observation_versions as versions
        on expected.reporting_unit_code = versions.reporting_unit_code
        and expected.indicator_code = versions.indicator_code
        and expected.period_id = versions.period_id
)
select
    reporting_unit_code,
    region_code,
    indicator_code,
    period_id,
    periodicity,
    cast(period_year as integer) as period_year,
    period_end_date,
    due_date,
    as_of_date,
    due_date < as_of_date as is_due,
    is_submitted,
    first_received_at,
    first_received_date,
    coalesce(is_submitted and first_received_date <= due_date, false) as is_on_time,
    case when is_submitted then cast(greatest(0, date_diff('day', due_date, first_received_date)) as integer) end
        as days_late,
    cast(coalesce(n_versions, 0) as integer) as n_versions,
    last_received_at
from joined;


-- =====================================================================================================
-- Target progress. Each target's indicator is rolled up to the target's region, period by period, then
-- summed into calendar years, then assessed at the as-of year (int_targets_assessed). Only periods of
-- the indicator's catalog periodicity count (a ratio: its numerator's), so the roll-up is computed for
-- those series only and only at the targets' regions.
-- =====================================================================================================

create or replace temp table ref_targets as
select
    targets.target_id,
    targets.indicator_code,
    targets.region_code,
    targets.comparator,
    cast(targets.target_value as double) as target_value,
    cast(targets.target_value_high as double) as target_value_high,
    targets.status as target_status,
    cast(targets.deadline_year as integer) as deadline_year,
    targets.recurrence,
    cast(targets.baseline_value as double) as stated_baseline_value,
    cast(targets.baseline_year as integer) as stated_baseline_year,
    indicators.kind,
    indicators.aggregation,
    indicators.periodicity,
    indicators.direction,
    indicators.unit,
    -- the first year of the target's plan period (macro reform_monitoring_plan_start_year)
    cast(case targets.source_document
        when '001_bd421a37b0aab61e.txt' then 2021
        when '003_03cbcd3f59cb989a.txt' then 2018
        when '000_e99ee91a4b6423bc.txt' then 2024
        when '002_5b97c148db488248.txt' then 2024
        else cast(targets.deadline_year as integer) - 4
    end as integer) as plan_start_year,
    case
        when targets.recurrence is not null or targets.deadline_year is null then 'recurring'
        when indicators.aggregation <> 'ratio'
            and (indicators.kind = 'cumulative_count'
                or indicators.periodicity <> 'annual'
                or coalesce(targets.value_text, '') || coalesce(targets.source_quote, '') like '%累计%'
                or coalesce(targets.value_text, '') || coalesce(targets.source_quote, '') like '%新增%')
            then 'cumulative'
        else 'level'
    end as progress_method,
    make_date(cast(targets.deadline_year as integer), 12, 31) as deadline_date
from read_csv(getvariable('seeds_dir') || '/targets.csv', header = true, all_varchar = true) as targets
inner join ref_indicators as indicators
    on targets.indicator_code = indicators.indicator_code;

-- the series to roll up: a target's indicator at its region, with the period type its years are made of
create or replace temp table target_series as
select distinct
    targets.indicator_code,
    targets.region_code,
    indicators.aggregation,
    indicators.numerator_code,
    indicators.denominator_code,
    case when indicators.aggregation = 'ratio' then numerators.periodicity else indicators.periodicity end
        as period_type
from ref_targets as targets
inner join ref_indicators as indicators
    on targets.indicator_code = indicators.indicator_code
left join ref_indicators as numerators
    on indicators.numerator_code = numerators.indicator_code;

-- a region's own figure of a sum/none indicator: the current figures reported for the region itself
create or replace temp table component_figures as
with needed as (
    select distinct indicator_code, period_type from target_series where aggregation in ('sum', 'none')
    union
    select numerator_code, period_type from target_series where aggregation = 'ratio'
    union
    select denominator_code, period_type from target_series where aggregation = 'ratio'
)
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
from floor_observation_current as observations
inner join ref_indicators as indicators
    on observations.indicator_code = indicators.indicator_code
inner join ref_periods as periods
    on observations.period_id = periods.period_id
inner join needed
    on observations.indicator_code = needed.indicator_code
    and periods.period_type = needed.period_type
where indicators.aggregation in ('sum', 'none')
    and (observations.value is not null or observations.obs_status = 'masked')
group by all;

-- own figures per series: the indicator's own, or for a ratio the pair numerator + denominator reported
-- for the same region and period
create or replace temp table own_figures as
select
    series.indicator_code,
    figures.region_code,
    figures.period_id,
    figures.n_observations,
    figures.n_masked,
    figures.n_estimated,
    figures.n_provisional,
    figures.n_values,
    figures.value_sum,
    cast(null as double) as numerator_sum,
    cast(null as double) as denominator_sum
from (select distinct indicator_code from target_series where aggregation in ('sum', 'none')) as series
inner join component_figures as figures
    on series.indicator_code = figures.indicator_code
union all
select
    series.indicator_code,
    numerators.region_code,
    numerators.period_id,
    numerators.n_observations + denominators.n_observations,
    numerators.n_masked + denominators.n_masked,
    numerators.n_estimated + denominators.n_estimated,
    numerators.n_provisional + denominators.n_provisional,
    least(numerators.n_values, denominators.n_values),
    cast(null as double),
    numerators.value_sum,
    denominators.value_sum
from (select distinct indicator_code, numerator_code, denominator_code from target_series where aggregation = 'ratio')
    as series
inner join component_figures as numerators
    on series.numerator_code = numerators.indicator_code
inner join component_figures as denominators
    on series.denominator_code = denominators.indicator_code
    and numerators.region_code = denominators.region_code
    and numerators.period_id = denominators.period_id;

-- expected submissions due before the as-of date, per series (a ratio expects its numerator and its
-- denominator), and whether a current figure arrived
create or replace temp table expected_inputs as
with series as (
    select distinct indicator_code, aggregation, numerator_code, denominator_code, period_type from target_series
)
select
    series.indicator_code,
    expected.region_code,
    expected.period_id,
    count(*) as n_expected,
    count(versions.reporting_unit_code) as n_reported
from series
inner join expected_submissions as expected
    on expected.period_type = series.period_type
    and (expected.indicator_code = series.indicator_code
        or (series.aggregation = 'ratio'
            and expected.indicator_code in (series.numerator_code, series.denominator_code)))
left join observation_versions as versions
    on expected.reporting_unit_code = versions.reporting_unit_code
    and expected.indicator_code = versions.indicator_code
    and expected.period_id = versions.period_id
where expected.due_date < cast(getvariable('as_of_date') as date)
group by all;

create or replace temp table region_inputs as
select
    coalesce(own.indicator_code, expected.indicator_code) as indicator_code,
    coalesce(own.region_code, expected.region_code) as region_code,
    coalesce(own.period_id, expected.period_id) as period_id,
    own.region_code is not null as has_own_figure,
    coalesce(own.n_observations, 0) as n_observations,
    coalesce(own.n_masked, 0) as n_masked,
    coalesce(own.n_estimated, 0) as n_estimated,
    coalesce(own.n_provisional, 0) as n_provisional,
    coalesce(own.n_values, 0) as n_values,
    own.value_sum,
    own.numerator_sum,
    own.denominator_sum,
    coalesce(expected.n_expected, 0) as n_expected,
    coalesce(expected.n_reported, 0) as n_reported
from own_figures as own
full outer join expected_inputs as expected
    on own.indicator_code = expected.indicator_code
    and own.region_code = expected.region_code
    and own.period_id = expected.period_id;

-- The roll-up at the target's region: its own figure when it has one, otherwise the sum of its
-- children's values, recursively. An input region D counts at R unless a region between them (R
-- included, D not) has an own figure; `none` indicators are never rolled up.
create or replace temp table rollup_at_targets as
with

nearest_own_ancestor as (
    select inputs.indicator_code, inputs.region_code, inputs.period_id, min(ancestors.distance) as distance
    from region_inputs as inputs
    inner join ref_region_ancestors as ancestors
        on inputs.region_code = ancestors.region_code
        and ancestors.distance > 0
    inner join own_figures as own
        on ancestors.ancestor_code = own.region_code
        and inputs.indicator_code = own.indicator_code
        and inputs.period_id = own.period_id
    group by all
),

contributions as (
    select
        series.indicator_code,
        series.region_code,
        series.aggregation,
        inputs.period_id,
        inputs.* exclude (indicator_code, region_code, period_id),
        ancestors.distance,
        case
            when series.aggregation = 'none' then ancestors.distance = 0
            else ancestors.distance < coalesce(nearest.distance, 999)
        end as counts
    from (select distinct indicator_code, region_code, aggregation from target_series) as series
    inner join ref_region_ancestors as ancestors
        on series.region_code = ancestors.ancestor_code
    inner join region_inputs as inputs
        on inputs.indicator_code = series.indicator_code
        and inputs.region_code = ancestors.region_code
    left join nearest_own_ancestor as nearest
        on inputs.indicator_code = nearest.indicator_code
        and inputs.region_code = nearest.region_code
        and inputs.period_id = nearest.period_id
),

summed as (
    select
        indicator_code,
        region_code,
        period_id,
        any_value(aggregation) as aggregation,
        sum(n_masked) filter (where counts) as n_masked,
        sum(n_estimated) filter (where counts) as n_estimated,
        sum(n_provisional) filter (where counts) as n_provisional,
        sum(n_values) filter (where counts) as n_values,
        sum(value_sum) filter (where counts) as value_sum,
        sum(numerator_sum) filter (where counts) as numerator_sum,
        sum(denominator_sum) filter (where counts) as denominator_sum,
        sum(n_expected) filter (where counts) as n_expected,
        sum(n_reported) filter (where counts) as n_reported
    from contributions
    group by indicator_code, region_code, period_id
    having bool_or(counts)
)

select
    indicator_code,
    region_code,
    period_id,
    aggregation,
    n_masked,
    n_estimated,
    n_provisional,
    case
        when n_masked > 0 then null
        when aggregation = 'ratio' then numerator_sum / nullif(denominator_sum, 0) * 100
        when aggregation = 'none' and n_values > 1 then null
        else value_sum
    end as value,
    case when n_masked = 0 then numerator_sum end as numerator_value,
    case when n_masked = 0 then denominator_sum end as denominator_value,
    n_reported = n_expected as is_complete
from summed;

-- one value per series and calendar year: sum the periods (flows), the last period (none), or a
-- ratio of the year's sums; a masked period masks the year
create or replace temp table yearly_values as
with

periods as (
    select
        rollup.*,
        periods.year,
        periods.end_date,
        periods.periods_per_year,
        rollup.value is not null or (rollup.n_masked > 0) as has_figure
    from rollup_at_targets as rollup
    inner join ref_periods as periods
        on rollup.period_id = periods.period_id
    -- only the periods the series' years are made of
    inner join (select distinct indicator_code, period_type from target_series) as series
        on rollup.indicator_code = series.indicator_code
        and periods.period_type = series.period_type
),

years as (
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
            when 'ratio' then sum(numerator_value) filter (where value is not null)
                / nullif(sum(denominator_value) filter (where value is not null), 0) * 100
            else arg_max(value, end_date) filter (where has_figure)
        end as value_sum,
        count(*) filter (where has_figure) as n_periods_reported,
        max(period_id) filter (where has_figure) as last_period_id,
        max(end_date) filter (where has_figure) as last_period_end_date,
        bool_and(is_complete) as all_periods_complete
    from periods
    group by indicator_code, region_code, year
)

select
    indicator_code,
    region_code,
    year,
    case when n_masked > 0 then null else value_sum end as value,
    case
        when n_masked > 0 then 'masked'
        when value_sum is null then 'missing'
        when n_estimated > 0 then 'estimated'
        when n_provisional > 0 then 'provisional'
        else 'normal'
    end as obs_status,
    n_masked,
    n_estimated,
    n_provisional,
    n_periods_reported = periods_per_year as is_full_year,
    all_periods_complete and n_periods_reported = periods_per_year as is_complete,
    last_period_id,
    last_period_end_date
from years;

-- the assessment at the as-of year, with the years of the plan period up to it
create or replace table floor_target_progress as
with

as_of as (
    select cast(getvariable('as_of_date') as date) as as_of_date, year(cast(getvariable('as_of_date') as date)) as year
),

-- a target is assessed from the first year of its plan period on
assessed as (
    select targets.*, as_of.year as assessment_year
    from ref_targets as targets, as_of
    where coalesce(targets.plan_start_year, as_of.year) <= as_of.year
),

target_values as (
    select assessed.target_id, yearly.*
    from assessed
    inner join yearly_values as yearly
        on assessed.indicator_code = yearly.indicator_code
        and assessed.region_code = yearly.region_code
        and yearly.year <= assessed.assessment_year
        and yearly.year >= coalesce(assessed.plan_start_year, yearly.year)
        and yearly.year <= coalesce(assessed.deadline_year, yearly.year)
    where yearly.value is not null or yearly.obs_status = 'masked'
),

windows as (
    select
        target_id,
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
    group by target_id
),

-- the actual: cumulative = the years' total since the plan start; level = the latest year's value;
-- recurring = the latest full year's (biennial sums: with the year before)
actuals as (
    select
        assessed.*,
        case assessed.progress_method
            when 'cumulative' then case when windows.n_masked_total > 0 then null else windows.value_total end
            when 'level' then latest.value
            else case
                when assessed.recurrence = 'biennial' and assessed.aggregation = 'sum'
                    then case when previous.obs_status = 'masked' then null
                        else evaluated.value + coalesce(previous.value, 0) end
                else evaluated.value
            end
        end as actual_value,
        case assessed.progress_method
            when 'cumulative' then case
                when coalesce(windows.n_masked_total, 0) > 0 then 'masked'
                when windows.value_total is null then 'missing'
                when coalesce(windows.n_estimated_total, 0) > 0 then 'estimated'
                when coalesce(windows.n_provisional_total, 0) > 0 then 'provisional'
                else 'normal'
            end
            when 'level' then latest.obs_status
            else case
                when previous.obs_status = 'masked' and assessed.recurrence = 'biennial' and assessed.aggregation = 'sum'
                    then 'masked'
                else evaluated.obs_status
            end
        end as actual_obs_status,
        case when assessed.progress_method = 'recurring' then evaluated.year else latest.year end as actual_year,
        case when assessed.progress_method = 'recurring' then evaluated.last_period_id else latest.last_period_id end
            as actual_period_id,
        case when assessed.progress_method = 'recurring' then evaluated.last_period_end_date
            else latest.last_period_end_date end as actual_end_date,
        case assessed.progress_method
            when 'cumulative' then windows.all_years_complete
                and windows.n_years = windows.latest_year - assessed.plan_start_year + 1
            when 'level' then latest.is_complete
            else evaluated.is_complete
                and (coalesce(assessed.recurrence, '') <> 'biennial' or assessed.aggregation <> 'sum'
                    or coalesce(previous.is_complete, false))
        end as actual_is_complete,
        -- the baseline: zero before the plan for cumulative targets, else the stated one, else the
        -- first actual of the plan period
        case
            when assessed.progress_method = 'cumulative' then 0.0
            when assessed.stated_baseline_value is not null then assessed.stated_baseline_value
            when assessed.progress_method = 'level' then first_actual.value
        end as baseline_value,
        case
            when assessed.progress_method = 'cumulative' then assessed.plan_start_year - 1
            when assessed.stated_baseline_value is not null then assessed.stated_baseline_year
            when assessed.progress_method = 'level' then first_actual.year
        end as baseline_year,
        case
            when assessed.progress_method = 'cumulative' then make_date(assessed.plan_start_year - 1, 12, 31)
            when assessed.stated_baseline_value is not null then make_date(assessed.stated_baseline_year, 12, 31)
            when assessed.progress_method = 'level' then first_actual.last_period_end_date
        end as baseline_date,
        case
            when assessed.progress_method = 'cumulative' then 'plan_start_zero'
            when assessed.stated_baseline_value is not null then 'target'
            when assessed.progress_method = 'level' and first_actual.value is not null then 'first_actual'
        end as baseline_source
    from assessed
    left join windows
        on assessed.target_id = windows.target_id
    left join target_values as latest
        on assessed.target_id = latest.target_id and windows.latest_year = latest.year
    left join target_values as evaluated
        on assessed.target_id = evaluated.target_id and windows.latest_full_year = evaluated.year
    left join target_values as previous
        on assessed.target_id = previous.target_id and windows.latest_full_year - 1 = previous.year
    left join target_values as first_actual
        on assessed.target_id = first_actual.target_id and windows.first_value_year = first_actual.year
),

-- direction and pace: the point the pace aims at, which side of the baseline it lies, whether met
directed as (
    select
        *,
        case when comparator = 'between' and baseline_value > target_value_high then target_value_high
            else target_value end as pace_target,
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
            when '=' then abs(actual_value - target_value) <= 0.005 * abs(target_value)
            when '~' then abs(actual_value - target_value) <= 0.05 * abs(target_value)
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
            when pace_method = 'linear' and years_total > 0 then (pace_target - baseline_value) / years_total
        end as required_annual_pace,
        case
            when pace_method = 'compound' and years_elapsed > 0
                then power(actual_value / baseline_value, 1 / years_elapsed) - 1
            when pace_method = 'linear' and years_elapsed > 0 then (actual_value - baseline_value) / years_elapsed
        end as observed_annual_pace,
        case
            when comparator = 'between' and actual_value < target_value
                then actual_value / nullif(target_value, 0) * 100
            when comparator = 'between' and actual_value > target_value_high
                then target_value_high / nullif(actual_value, 0) * 100
            when comparator = 'between' and actual_value is not null then 100.0
            when direction_sign < 0 then target_value / nullif(actual_value, 0) * 100
            else actual_value / nullif(target_value, 0) * 100
        end as pct_achieved
    from paced
),

classified as (
    select
        *,
        direction_sign * observed_annual_pace / nullif(abs(required_annual_pace), 0) as progress_ratio,
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
            when direction_sign * observed_annual_pace / nullif(abs(required_annual_pace), 0) is null then 'no_trend'
            else 'progress_ratio'
        end as status_reason
    from rated
)

select
    targets.target_id,
    targets.indicator_code,
    targets.region_code,
    -- null when not assessed yet, as in the pipeline
    classified.progress_method,
    classified.plan_start_year,
    cast(classified.actual_value as double) as actual_value,
    classified.actual_obs_status,
    cast(classified.actual_year as integer) as actual_year,
    classified.actual_period_id,
    classified.actual_is_complete,
    cast(classified.baseline_value as double) as baseline_value,
    cast(classified.baseline_year as integer) as baseline_year,
    classified.baseline_source,
    cast(classified.pct_achieved as double) as pct_achieved,
    classified.pace_method,
    cast(classified.years_elapsed as double) as years_elapsed,
    cast(classified.years_total as double) as years_total,
    cast(classified.required_annual_pace as double) as required_annual_pace,
    cast(classified.observed_annual_pace as double) as observed_annual_pace,
    cast(classified.progress_ratio as double) as progress_ratio,
    -- not assessed yet (the plan starts after the as-of year): no_data / not_started
    case classified.status_reason
        when 'target_masked' then 'target_masked'
        when 'met' then 'achieved'
        when 'not_met' then 'off_track'
        when 'exceeded' then 'off_track'
        when 'deadline_missed' then 'off_track'
        when 'progress_ratio' then
            case
                when classified.progress_ratio >= 0.95 then 'on_track'
                when classified.progress_ratio >= 0.5 then 'at_risk'
                else 'off_track'
            end
        else 'no_data'
    end as status,
    coalesce(classified.status_reason, 'not_started') as status_reason,
    as_of.as_of_date
from ref_targets as targets
cross join as_of
left join classified
    on targets.target_id = classified.target_id;


-- =====================================================================================================
-- Skill-grade pyramid from the worker records (ingest.microdata worker checks, int_workers_deduplicated,
-- fct_skill_grade_pyramid). The records' fixed layout:
-- 姓名,公民身份号码,性别,用人单位统一社会信用代码,行政区划代码,行业代码,技能等级,人员类别,是否一线职工,联系电话,
-- 统计年度,工匠称号,获评年份 (names and phone numbers are never read)
-- =====================================================================================================

-- cleaning as ingest does it: trimmed, '' is blank; codes upper-case without spaces and hyphens;
-- labels compared lower-case without spaces
create or replace temp macro md_clean(s) as nullif(trim(s, ' ' || chr(9) || chr(10) || chr(13)), '');
create or replace temp macro md_code(s) as nullif(upper(replace(replace(md_clean(s), ' ', ''), '-', '')), '');
create or replace temp macro md_key(s) as lower(replace(md_clean(s), ' ', ''));
create or replace temp macro md_year(s) as
    case when regexp_full_match(md_clean(s), '[0-9]{4}(年|年度)?') then cast(left(md_clean(s), 4) as integer) end;
-- GB 11643 (ISO 7064 MOD 11-2): the check character of an 18-character ID number, weights 2^(17-i) mod 11
create or replace temp macro ric_check(s) as substr('10X98765432', cast((
    7 * (ascii(substr(s, 1, 1)) - 48) + 9 * (ascii(substr(s, 2, 1)) - 48) + 10 * (ascii(substr(s, 3, 1)) - 48)
    + 5 * (ascii(substr(s, 4, 1)) - 48) + 8 * (ascii(substr(s, 5, 1)) - 48) + 4 * (ascii(substr(s, 6, 1)) - 48)
    + 2 * (ascii(substr(s, 7, 1)) - 48) + 1 * (ascii(substr(s, 8, 1)) - 48) + 6 * (ascii(substr(s, 9, 1)) - 48)
    + 3 * (ascii(substr(s, 10, 1)) - 48) + 7 * (ascii(substr(s, 11, 1)) - 48) + 9 * (ascii(substr(s, 12, 1)) - 48)
    + 10 * (ascii(substr(s, 13, 1)) - 48) + 5 * (ascii(substr(s, 14, 1)) - 48) + 8 * (ascii(substr(s, 15, 1)) - 48)
    + 4 * (ascii(substr(s, 16, 1)) - 48) + 2 * (ascii(substr(s, 17, 1)) - 48)
) % 11 as integer) + 1, 1);
-- GB 32100: the check character of an 18-character unified social credit code, weights 3^(i-1) mod 31
create or replace temp macro uscc_value(c) as instr('0123456789ABCDEFGHJKLMNPQRTUWXY', c) - 1;
create or replace temp macro uscc_check(s) as substr('0123456789ABCDEFGHJKLMNPQRTUWXY', cast((31 - (
    1 * uscc_value(substr(s, 1, 1)) + 3 * uscc_value(substr(s, 2, 1)) + 9 * uscc_value(substr(s, 3, 1))
    + 27 * uscc_value(substr(s, 4, 1)) + 19 * uscc_value(substr(s, 5, 1)) + 26 * uscc_value(substr(s, 6, 1))
    + 16 * uscc_value(substr(s, 7, 1)) + 17 * uscc_value(substr(s, 8, 1)) + 20 * uscc_value(substr(s, 9, 1))
    + 29 * uscc_value(substr(s, 10, 1)) + 25 * uscc_value(substr(s, 11, 1)) + 13 * uscc_value(substr(s, 12, 1))
    + 8 * uscc_value(substr(s, 13, 1)) + 24 * uscc_value(substr(s, 14, 1)) + 10 * uscc_value(substr(s, 15, 1))
    + 30 * uscc_value(substr(s, 16, 1)) + 28 * uscc_value(substr(s, 17, 1))
) % 31) % 31 as integer) + 1, 1);

-- labels → codes, as ingest.microdata.reference_lookups builds them from the seeds
create or replace temp table lk_grade as
select distinct md_key(label) as key, grade_code as code
from read_csv(getvariable('seeds_dir') || '/skill_grades.csv', header = true, all_varchar = true),
    unnest([
        grade_code, name_zh, name_en,
        case when name_zh like '%级工' then left(name_zh, length(name_zh) - 1) end,
        national_vocational_level,
        national_vocational_level || '/' || name_zh,
        name_zh || '/' || national_vocational_level,
        '国家职业资格' || national_vocational_level,
        name_zh || '(' || national_vocational_level || ')'
    ]) as t(label)
where label is not null;

create or replace temp table lk_group as
select distinct md_key(label) as key, group_code as code
from read_csv(getvariable('seeds_dir') || '/worker_groups.csv', header = true, all_varchar = true),
    unnest([group_code, name_zh, name_en]) as t(label)
where label is not null;

create or replace temp table lk_industry as
select distinct lower(label) as key, industry_code as division_code, section_code
from read_csv(getvariable('seeds_dir') || '/industries.csv', header = true, all_varchar = true),
    unnest([industry_code, section_code || industry_code]) as t(label)
where level = 'division';

create or replace temp table lk_region as
select region_code from ref_regions where valid_to is null and level <> 'national';

-- the records as read, numbered: DuckDB reads the files in order (with insertion order preserved, its
-- default), so the ordinal orders the rows within a file and the files by name; numbering is a streaming
-- step, so nothing else happens in it. Names, sex and phone numbers are not kept.
set preserve_insertion_order = true;

create or replace temp table worker_cells as
select row_number() over () as ordinal, * exclude (name_text, sex_text, phone_text)
from read_csv(
    getvariable('workers_files'),
    header = true, auto_detect = false, delim = ',', quote = '"', filename = true,
    columns = {
        'name_text': 'varchar', 'id_text': 'varchar', 'sex_text': 'varchar', 'employer_text': 'varchar',
        'region_text': 'varchar', 'industry_text': 'varchar', 'grade_text': 'varchar', 'group_text': 'varchar',
        'frontline_text': 'varchar', 'phone_text': 'varchar', 'reference_year_text': 'varchar',
        'title_text': 'varchar', 'title_year_text': 'varchar'
    }
);

-- cleaned as ingest cleans them (a table of its own: the checks read each cleaned cell many times)
create or replace temp table worker_clean as
    select
        ordinal,
        parse_filename(filename) as file_name,
        md_code(id_text) as id_number,
        md_code(employer_text) as employer_credit_code,
        md_code(region_text) as region_code,
        md_code(industry_text) as industry_text,
        md_key(grade_text) as grade_key,
        md_key(group_text) as group_key,
        md_key(frontline_text) as frontline_key,
        md_clean(reference_year_text) as reference_year_text,
        md_key(title_text) as title_key,
        md_clean(title_year_text) as title_year_text
    from worker_cells;

-- the ingest checks that can fire on generated records; a record failing one is refused
create or replace temp table worker_records as
with valid as (
    select
        cells.ordinal,
        cells.file_name,
        cells.id_number,
        cells.employer_credit_code,
        cells.region_code,
        grades.code as skill_grade_code,
        industries.section_code,
        md_year(cells.reference_year_text) as reference_year,
        coalesce(groups.code in ('migrant_workers', 'new_generation_migrant_workers'), false) as is_migrant_worker
    from worker_clean as cells
    left join lk_grade as grades
        on cells.grade_key = grades.key
    left join lk_group as groups
        on cells.group_key = groups.key
    left join lk_industry as industries
        on lower(nullif(regexp_extract(cells.industry_text, '^([A-T]?[0-9]{2})[0-9]{0,2}$', 1), '')) = industries.key
    where
        -- GB 11643: 17 digits and the check character, a real birth date not after receipt (the check that
        -- the address code existed in the birth year needs python-stdnum's table; generated IDs pass it)
        regexp_full_match(cells.id_number, '[0-9]{17}[0-9X]')
        and right(cells.id_number, 1) = ric_check(cells.id_number)
        and substr(cells.id_number, 7, 4) <> '0000'
        and try_strptime(substr(cells.id_number, 7, 8), '%Y%m%d') is not null
        and try_cast(substr(cells.id_number, 7, 4) as integer) <= year(cast(getvariable('received_on') as date))
        -- GB 32100: the code alphabet and the check character (a blank employer is allowed)
        and (cells.employer_credit_code is null
            or (regexp_full_match(cells.employer_credit_code, '[0-9]{8}[0-9A-HJ-NP-RTUWXY]{10}')
                and right(cells.employer_credit_code, 1) = uscc_check(cells.employer_credit_code)))
        -- codes and labels the reference data know
        and cells.region_code in (select region_code from lk_region)
        and (cells.industry_text is null or industries.section_code is not null)
        and (cells.grade_key is null or grades.code is not null)
        and (cells.group_key is null or cells.group_key in (select key from lk_group))
        and (cells.frontline_key is null
            or cells.frontline_key
                in ('是', 'y', 'yes', '1', 'true', 't', '有', '√', '否', 'n', 'no', '0', 'false', 'f', '无', '×'))
        -- a reference year within the reporting calendar
        and (cells.reference_year_text is null
            or coalesce(md_year(cells.reference_year_text) between 2016 and 2035, false))
        -- a craftsman title of the list; a title year from 1950 to the year of receipt, and only with a title
        and (cells.title_key is null
            or cells.title_key in ('大国工匠', '国家级工匠', '国家级', '全国', 'national', 'great_craftsman',
                '省级工匠', '省级', '省工匠', '龙江大工匠', 'provincial', 'provincial_craftsman',
                '市级工匠', '市级', '市工匠', '地市级工匠', '丽江工匠', 'city', 'city_craftsman',
                '无', '否', '没有', '无称号', 'none', 'no', '-', '/', '—'))
        and (cells.title_year_text is null
            or (coalesce(md_year(cells.title_year_text)
                    between 1950 and year(cast(getvariable('received_on') as date)), false)
                and cells.title_key not in ('无', '否', '没有', '无称号', 'none', 'no', '-', '/', '—')))
)

-- a repeated row (same worker, employer and reference year) in one file: the first one is kept
select *
from valid
qualify row_number() over (
    partition by file_name, id_number, employer_credit_code, reference_year order by ordinal
) = 1;

-- one record per worker and year: the latest file's (files are ingested in name order, so a later file
-- is received later), and in it the last row
create or replace temp table workers as
select
    coalesce(reference_year, year(cast(getvariable('received_on') as date))) as year,
    region_code,
    coalesce(section_code, '_U') as industry_section_code,
    coalesce(skill_grade_code, '_Z') as skill_grade_code,
    skill_grade_code is not null as is_skill_talent,
    is_migrant_worker
from worker_records
qualify row_number() over (
    partition by id_number, coalesce(reference_year, year(cast(getvariable('received_on') as date)))
    order by file_name desc, ordinal desc
) = 1;

-- the counts the pyramid and the worker shares publish, as cells: the pyramid's, and per region (all
-- industries) high-skill talents _HS, skill talents _ST, migrant workers _MW, with the complements no
-- table publishes but any reader can take: _LS = _ST - _HS, _NH = workers - _HS, _NM = workers - _MW
create or replace temp table worker_cells_counted as
with placed as (
    select
        workers.year,
        ancestors.ancestor_code as region_code,
        ancestors.ancestor_level as region_level,
        workers.industry_section_code,
        workers.skill_grade_code,
        workers.is_skill_talent,
        coalesce(high.is_high_skill = 'true', false) as is_high_skill,
        workers.is_migrant_worker
    from workers
    inner join ref_region_ancestors as ancestors
        on workers.region_code = ancestors.region_code
    left join read_csv(getvariable('seeds_dir') || '/skill_grades.csv', header = true, all_varchar = true) as high
        on workers.skill_grade_code = high.grade_code
),
pyramid as (
    select
        year, region_code, region_level,
        coalesce(industry_section_code, '_T') as industry_section_code,
        coalesce(skill_grade_code, '_T') as skill_grade_code,
        count(*) as n_workers
    from placed
    group by grouping sets (
        (year, region_code, region_level, industry_section_code, skill_grade_code),
        (year, region_code, region_level, industry_section_code),
        (year, region_code, region_level, skill_grade_code),
        (year, region_code, region_level)
    )
),
per_region as (
    select
        year, region_code, region_level,
        count(*) as n_all,
        count(*) filter (where is_high_skill) as n_hs,
        count(*) filter (where is_skill_talent) as n_st,
        count(*) filter (where is_migrant_worker) as n_mw
    from placed
    group by all
)
select *, true as is_published from pyramid
union all
select year, region_code, region_level, '_T', cell.code, cell.n, cell.code in ('_HS', '_ST', '_MW')
from (
    select year, region_code, region_level, unnest([
        {'code': '_HS', 'n': n_hs}, {'code': '_ST', 'n': n_st}, {'code': '_MW', 'n': n_mw},
        {'code': '_LS', 'n': n_st - n_hs}, {'code': '_NH', 'n': n_all - n_hs}, {'code': '_NM', 'n': n_all - n_mw}
    ]) as cell
    from per_region
);

-- the sums a reader can subtract from: a row's grades, a column's sections, a parent's child regions,
-- the high-skill and ladder grades of _HS and _ST, and the three complements; total marks the sum's own
create or replace temp table worker_cell_sums as
with cells as (
    select
        c.*,
        concat_ws('|', c.year, c.region_code, c.industry_section_code, c.skill_grade_code) as cell_id,
        r.parent_code,
        g.is_high_skill as grade_high_skill
    from worker_cells_counted as c
    left join ref_regions as r
        on c.region_code = r.region_code
    left join read_csv(getvariable('seeds_dir') || '/skill_grades.csv', header = true, all_varchar = true) as g
        on c.skill_grade_code = g.grade_code
),
sums as (
    select 'row|' || year || '|' || region_code || '|' || industry_section_code as sum_id, cell_id,
        skill_grade_code = '_T' as total
    from cells where skill_grade_code not in ('_HS', '_ST', '_MW', '_LS', '_NH', '_NM')
    union all
    select 'col|' || year || '|' || region_code || '|' || skill_grade_code, cell_id, industry_section_code = '_T'
    from cells where skill_grade_code not in ('_HS', '_ST', '_MW', '_LS', '_NH', '_NM')
    union all
    select 'tree|' || year || '|' || parent_code || '|' || industry_section_code || '|' || skill_grade_code, cell_id, false
    from cells where parent_code is not null
    union all
    select 'tree|' || year || '|' || region_code || '|' || industry_section_code || '|' || skill_grade_code, cell_id, true
    from cells
    union all
    select 'hs|' || year || '|' || region_code, cell_id, skill_grade_code = '_HS'
    from cells where industry_section_code = '_T' and (grade_high_skill = 'true' or skill_grade_code = '_HS')
    union all
    select 'st|' || year || '|' || region_code, cell_id, skill_grade_code = '_ST'
    from cells where industry_section_code = '_T' and (grade_high_skill is not null or skill_grade_code = '_ST')
    union all
    -- part + rest = total, in the region's all-industries row
    select k.name || '|' || year || '|' || region_code, cell_id, skill_grade_code = k.total
    from cells
    inner join (values
        ('ls', '_HS', '_LS', '_ST'), ('nh', '_HS', '_NH', '_T'), ('nm', '_MW', '_NM', '_T'), ('nz', '_ST', '_Z', '_T')
    ) as k (name, part, rest, total)
        on cells.skill_grade_code in (k.part, k.rest, k.total)
    where industry_section_code = '_T'
)
select sums.*, cells.n_workers
from sums
inner join cells using (cell_id)
qualify count(*) over (partition by sum_id) > 1;

-- disclosure control: 1 to k - 1 workers must stay unknown (a published one is null, never 0); while a
-- sum's only unknown member is such a count, its smallest other published non-zero member is withheld
-- (a part before the total, then the smaller count, then the id) and must stay unknown in turn
create or replace table floor_skill_pyramid as
with recursive
cells as (
    select
        *,
        concat_ws('|', year, region_code, industry_section_code, skill_grade_code) as cell_id,
        n_workers between 1 and getvariable('disclosure_k') - 1 as is_small
    from worker_cells_counted
),
state (cell_id, unknown, protect) using key (cell_id) as (
    select cell_id, is_small or not is_published, is_small from cells
    union
    select distinct picked.cell_id, true, true
    from (
        select s.cell_id, row_number() over (partition by s.sum_id order by s.total, s.n_workers, s.cell_id) as pick
        from worker_cell_sums as s
        inner join recurring.state as st using (cell_id)
        where s.sum_id in (
            select s2.sum_id
            from worker_cell_sums as s2
            inner join recurring.state as st2 using (cell_id)
            group by s2.sum_id
            having count(*) filter (where st2.unknown) = 1 and count(*) filter (where st2.unknown and st2.protect) = 1
        )
            and not st.unknown and s.n_workers > 0
    ) as picked
    where picked.pick = 1
)
select
    cast(cells.year as integer) as year,
    cells.region_code,
    cells.region_level,
    cells.industry_section_code,
    cells.skill_grade_code,
    cast(case when state.unknown then null else cells.n_workers end as integer) as n_workers,
    state.unknown as is_suppressed
from cells
inner join state using (cell_id)
where cells.skill_grade_code not in ('_HS', '_ST', '_MW', '_LS', '_NH', '_NM');
