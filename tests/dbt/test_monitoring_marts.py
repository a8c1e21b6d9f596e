"""The monitoring marts on the demo data: current and as-of figures, roll-ups up the region hierarchy,
target progress, reporting completeness and the region scorecard.

The warehouse is built once for the module (generate → ingest → build, about 12 s) in its own
REFORM_HOME and opened read-only. The exact arithmetic (masked and missing inputs, ratio recomputation,
own figure vs children, each status threshold, lateness in Shanghai time, as-of) is pinned by the dbt
unit tests on tiny fixtures; here the rules are checked on the real demo data.
"""

from __future__ import annotations

import datetime
import math

import pytest

pytestmark = pytest.mark.slow

LIJIANG_COUNTIES = ("530702", "530721", "530722", "530723", "530724")
STATUSES = {"achieved", "on_track", "at_risk", "off_track", "no_data", "target_masked"}


def rows(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def scalar(con, sql: str, *params):
    return rows(con, sql, *params)[0][0]


# ---- current and as-of ---------------------------------------------------------------------------


def test_current_view_holds_exactly_the_latest_versions(con):
    current = scalar(con, "select count(*) from marts.fct_indicator_observation_current")
    assert current == scalar(con, "select count(*) from marts.fct_indicator_observation where is_current")
    assert current > 800
    # one row per key, and it is the highest version
    assert rows(
        con,
        """select count(*) from marts.fct_indicator_observation_current as c
           join (select indicator_code, region_code, period_id, reporting_unit_code, max(version) as v
                 from marts.fct_indicator_observation group by all) as m
             using (indicator_code, region_code, period_id, reporting_unit_code)
           where c.version <> m.v""",
    ) == [(0,)]
    # the demo has resubmissions, so the view is smaller than the table
    assert current < scalar(con, "select count(*) from marts.fct_indicator_observation")


def test_as_of_predicate_before_and_after_a_resubmission(con):
    """Between the first file and its correction version 1 was the known figure; from then on version 2."""
    resubmitted = rows(
        con,
        """select v2.indicator_code, v2.region_code, v2.period_id, v2.reporting_unit_code,
                  v1.valid_from, v2.valid_from
           from marts.fct_indicator_observation as v2
           join marts.fct_indicator_observation as v1
             using (indicator_code, region_code, period_id, reporting_unit_code)
           where v2.version = 2 and v1.version = 1 and v1.valid_from < v2.valid_from""",
    )
    assert resubmitted, "the demo data have a resubmission"
    as_of = """select version from marts.fct_indicator_observation
               where indicator_code = ? and region_code = ? and period_id = ? and reporting_unit_code = ?
                 and valid_from <= ? and (valid_to is null or valid_to > ?)"""
    for *key, first, replaced_at in resubmitted:
        between = first + (replaced_at - first) / 2
        assert rows(con, as_of, *key, between, between) == [(1,)]
        assert rows(con, as_of, *key, replaced_at, replaced_at) == [(2,)]
        before = first - datetime.timedelta(seconds=1)
        assert rows(con, as_of, *key, before, before) == []


# ---- roll-ups --------------------------------------------------------------------------------------


def test_sum_rollup_at_the_city_is_the_sum_of_its_counties_when_it_has_no_own_figure(con):
    from_children = rows(
        con,
        """select r.indicator_code, r.period_id, r.value,
                  (select sum(c.value) from marts.fct_indicator_rollup as c
                   where c.indicator_code = r.indicator_code and c.period_id = r.period_id
                     and c.region_code in ('530702', '530721', '530722', '530723', '530724'))
           from marts.fct_indicator_rollup as r
           where r.region_code = '530700' and r.aggregation = 'sum' and r.value_source = 'children'
             and r.value is not null""",
    )
    assert from_children, "the demo data have a sum indicator the city did not report itself"
    for indicator, period, value, counties in from_children:
        assert value == pytest.approx(counties), (indicator, period)


def test_sum_rollup_keeps_the_citys_own_figure_without_double_counting(con):
    own = rows(
        con,
        """select r.indicator_code, r.period_id, r.value, r.children_value, r.is_consistent_with_children,
                  (select sum(o.value) from marts.fct_indicator_observation_current as o
                   where o.indicator_code = r.indicator_code and o.period_id = r.period_id
                     and o.region_code = '530700')
           from marts.fct_indicator_rollup as r
           where r.region_code = '530700' and r.aggregation = 'sum' and r.value_source = 'own'
             and r.value is not null""",
    )
    assert len(own) > 50
    for indicator, period, value, children, consistent, own_sum in own:
        assert value == pytest.approx(own_sum), (indicator, period)
        if children is not None:
            assert consistent == math.isclose(value, children, rel_tol=1e-9), (indicator, period)
    # the province, which reports nothing itself, takes the city's figure - not city + counties
    province = rows(
        con,
        """select count(*) from marts.fct_indicator_rollup as p
           join marts.fct_indicator_rollup as c using (indicator_code, period_id)
           where p.region_code = '530000' and c.region_code = '530700' and p.aggregation = 'sum'
             and c.value_source = 'own' and p.value is distinct from c.value""",
    )
    assert province == [(0,)]


def test_no_ratio_rollup_is_the_average_of_its_childrens_ratios(con):
    parents = rows(
        con,
        """select r.indicator_code, r.region_code, r.period_id, r.value,
                  list(c.numerator_value), list(c.denominator_value), list(c.value)
           from marts.fct_indicator_rollup as r
           join marts.dim_region as child on child.parent_code = r.region_code
           join marts.fct_indicator_rollup as c
             on c.indicator_code = r.indicator_code and c.period_id = r.period_id
            and c.region_code = child.region_code and c.value is not null
           where r.aggregation = 'ratio' and r.value_source = 'children' and r.value is not null
           group by all
           having count(*) >= 2 and count(distinct c.denominator_value) >= 2""",
    )
    assert parents, "the demo data have ratios rolled up from children with different weights"
    compared = 0
    for indicator, region, period, value, numerators, denominators, ratios in parents:
        recomputed = sum(numerators) / sum(denominators) * 100
        assert value == pytest.approx(recomputed), (indicator, region, period)
        average = sum(ratios) / len(ratios)
        if not math.isclose(recomputed, average, rel_tol=1e-9):
            assert not math.isclose(value, average, rel_tol=1e-9), (indicator, region, period)
            compared += 1
    assert compared > 0


def test_rollup_masks_and_counts_inputs(con):
    assert scalar(con, "select count(*) from marts.fct_indicator_rollup where n_masked > 0 and value is not null") == 0
    assert scalar(con, "select count(*) from marts.fct_indicator_rollup where obs_status = 'masked'") > 0
    # a non-additive indicator never appears above the region it was reported for
    assert rows(
        con,
        """select count(*) from marts.fct_indicator_rollup as r
           where r.aggregation = 'none' and not exists (
               select 1 from marts.fct_indicator_observation_current as o
               where o.indicator_code = r.indicator_code and o.region_code = r.region_code
                 and o.period_id = r.period_id)
             and r.n_contributing > 0""",
    ) == [(0,)]
    # every expected submission that was due and missing leaves its region incomplete
    assert scalar(con, "select count(*) from marts.fct_indicator_rollup where n_reported > n_expected") == 0
    assert scalar(con, "select count(*) from marts.fct_indicator_rollup where not is_complete") > 0


# ---- target progress ------------------------------------------------------------------------------


def test_every_target_has_exactly_one_progress_row(con):
    n_targets = scalar(con, "select count(*) from marts.fct_target")
    assert n_targets == 115
    assert rows(con, "select count(*), count(distinct target_id) from marts.fct_target_progress") == [
        (n_targets, n_targets)
    ]
    assert rows(
        con,
        """select count(*) from marts.fct_target as t
           left join marts.fct_target_progress as p using (target_id) where p.target_id is null""",
    ) == [(0,)]
    statuses = {s for (s,) in rows(con, "select distinct status from marts.fct_target_progress")}
    assert statuses <= STATUSES and "achieved" in statuses and "no_data" in statuses


def test_masked_targets_have_status_target_masked(con):
    masked = rows(
        con,
        """select t.target_id, p.status from marts.fct_target as t
           join marts.fct_target_progress as p using (target_id) where t.status = 'masked'""",
    )
    assert len(masked) >= 10
    assert {status for _, status in masked} == {"target_masked"}
    mislabelled = (
        "select count(*) from marts.fct_target_progress where status = 'target_masked' and target_status <> 'masked'"
    )
    assert scalar(con, mislabelled) == 0


def test_cumulative_targets_sum_the_plan_period(con):
    """urban_new_jobs (累计8500人以上 by 2025) adds up the city's quarters from 2021 on."""
    progress = rows(
        con,
        """select progress_method, plan_start_year, actual_value, baseline_value, baseline_source
           from marts.fct_target_progress where target_id = 'lj2025-zl5-01'""",
    )
    assert progress[0][:2] == ("cumulative", 2021)
    assert progress[0][3:] == (0.0, "plan_start_zero")
    quarters = scalar(
        con,
        """select sum(value) from marts.fct_indicator_rollup
           where indicator_code = 'urban_new_jobs' and region_code = '530700'
             and period_id between '2021' and '2025-Q4' and period_id like '%-Q%'""",
    )
    assert progress[0][2] == pytest.approx(quarters)


def test_progress_status_follows_the_ratio_bands(con):
    for ratio, status in rows(
        con, "select progress_ratio, status from marts.fct_target_progress where status_reason = 'progress_ratio'"
    ):
        expected = "on_track" if ratio >= 0.95 else "at_risk" if ratio >= 0.5 else "off_track"
        assert status == expected


# ---- reporting completeness -----------------------------------------------------------------------


def test_completeness_has_one_row_per_expected_submission(con):
    n_expected = scalar(con, "select count(*) from marts.fct_expected_submission")
    assert n_expected > 3000
    assert rows(
        con, "select count(*), count(distinct expected_submission_id) from marts.fct_reporting_completeness"
    ) == [(n_expected, n_expected)]
    assert rows(
        con,
        """select count(*) from marts.fct_expected_submission as e
           left join marts.fct_reporting_completeness as c using (expected_submission_id)
           where c.expected_submission_id is null""",
    ) == [(0,)]
    # the demo's files were received now, long after their due dates: submitted, but late
    submitted, on_time, late = rows(
        con,
        """select count(*) filter (where is_submitted), count(*) filter (where is_on_time),
                  count(*) filter (where is_submitted and days_late > 0)
           from marts.fct_reporting_completeness where is_due""",
    )[0]
    assert submitted > 500 and late == submitted - on_time


def test_completeness_reports_add_up(con):
    due = scalar(con, "select count(*) from marts.fct_reporting_completeness where is_due")
    assert scalar(con, "select sum(n_expected) from marts.rpt_completeness_by_unit") == due
    # the nation counts every unit's submissions once
    national = "select sum(n_expected) from marts.rpt_completeness_by_region where region_code = '000000'"
    assert scalar(con, national) == due
    for expected, submitted, on_time, completeness, timeliness in rows(
        con,
        """select n_expected, n_submitted, n_on_time, completeness_rate, timeliness_rate
           from marts.rpt_completeness_by_region""",
    ):
        assert completeness == pytest.approx(100 * submitted / expected)
        assert timeliness == pytest.approx(100 * on_time / expected)
    assert scalar(con, "select count(distinct task_code) from marts.rpt_completeness_by_task") == 16


# ---- scorecard -------------------------------------------------------------------------------------


def test_scorecard_counts_match_target_progress_in_the_as_of_year(con):
    as_of_year = scalar(con, "select max(year(as_of_date)) from marts.fct_target_progress")
    scorecard = dict(
        ((region, status), n)
        for region, status, n in rows(
            con,
            """unpivot (select region_code, sum(n_achieved) as achieved, sum(n_on_track) as on_track,
                               sum(n_at_risk) as at_risk, sum(n_off_track) as off_track,
                               sum(n_no_data) as no_data, sum(n_target_masked) as target_masked
                        from marts.rpt_region_scorecard where year = ? group by region_code)
               on achieved, on_track, at_risk, off_track, no_data, target_masked
               into name status value n""",
            as_of_year,
        )
        if n
    )
    progress = dict(
        ((region, status), n)
        for region, status, n in rows(
            con, "select region_code, status, count(*) from marts.fct_target_progress group by all"
        )
    )
    assert scorecard == progress
    # the city's row for the skills pillar carries completeness and a headline figure
    city = rows(
        con,
        """select n_expected_submissions, completeness_rate, headline_indicator_code
           from marts.rpt_region_scorecard where region_code = '530700' and pillar_code = 'skills' and year = 2024""",
    )
    assert city and city[0][0] > 0 and 0 <= city[0][1] <= 100 and city[0][2] == "high_skill_talents_total"
