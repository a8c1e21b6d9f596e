"""Every Great Expectations rule has a passing and a failing case, run in DuckDB through GX."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from ingest.validation import SUITES, sync_project, validate_warehouse

pytestmark = pytest.mark.slow

SCHEMA = """
create schema raw; create schema marts;
create table marts.dim_region as select * from (values ('530700', '%'), ('530702', '%')) t(region_code, x);
create table marts.dim_period as select * from (values ('2024-Q1'), ('2024-Q2'), ('2024-Q3'), ('2024-Q4'),
    ('2025-Q1')) t(period_id);
create table marts.dim_indicator as select * from (values
    ('skill_talents_total', '人', null), ('high_skill_talents_total', '人', 'skill_talents_total'),
    ('coverage_rate', '%', null)) t(indicator_code, unit, parent_indicator_code);
create table raw.submissions (file_sha256 varchar, indicator_code varchar, reporting_unit_code varchar,
    obs_status varchar, period_id varchar, value double);
create table marts.fct_indicator_observation (reporting_unit_code varchar, region_code varchar, period_id varchar,
    indicator_code varchar, version integer, is_current boolean, unit varchar, value double);
"""

GOOD_OBSERVATIONS = [
    # unit, region, period, indicator, version, current, unit of measure, value
    *[
        ("U1", "530700", p, "skill_talents_total", 1, True, "人", v)
        for p, v in [("2024-Q1", 100), ("2024-Q2", 104), ("2024-Q3", 98), ("2024-Q4", 101), ("2025-Q1", 103)]
    ],
    ("U1", "530700", "2025-Q1", "high_skill_talents_total", 1, True, "人", 40),
    ("U1", "530700", "2025-Q1", "coverage_rate", 1, True, "%", 85.5),
    ("U1", "530700", "2024-Q4", "coverage_rate", 1, False, "%", 80.0),
    ("U1", "530700", "2024-Q4", "coverage_rate", 2, True, "%", 81.0),
]

# rule description → SQL that breaks exactly that rule
BREAKERS = {
    "every row knows the file it came from": "update raw.submissions set file_sha256 = null where value = 100",
    "every row names an indicator": "update raw.submissions set indicator_code = null where value = 100",
    "every row names its reporting unit": "update raw.submissions set reporting_unit_code = null where value = 100",
    "observation status is one of the SDMX-style statuses": "update raw.submissions set obs_status = 'okay', value = null where value = 100",
    "periods are SDMX reporting-period ids (2025, 2025-S1, 2025-Q3, 2025-M09)": "update raw.submissions set period_id = '2025Q1' where value = 100",
    "a value is present exactly when the status says it was observed": "update raw.submissions set obs_status = 'masked' where value = 100",
    "one row per unit, region, period, indicator and version": "insert into marts.fct_indicator_observation values "
    "('U1', '530700', '2024-Q1', 'skill_talents_total', 1, false, '人', 100)",
    "exactly one current version per unit, region, period and indicator": "update marts.fct_indicator_observation set is_current = true where version = 1 and unit = '%'",
    "every region code exists in dim_region": "update marts.fct_indicator_observation set region_code = '999999' where value = 40",
    "every period lies in the reporting calendar (dim_period)": "update marts.fct_indicator_observation set period_id = '2030-Q1' where value = 40",
    "the unit of measure is the catalog's": "update marts.fct_indicator_observation set unit = '人次' where value = 40",
    "rates lie within 0–100 %": "update marts.fct_indicator_observation set value = 150 where value = 85.5",
    "a part never exceeds its whole (e.g. high-skill talents ≤ skill talents)": "update marts.fct_indicator_observation set value = 104 where value = 40",
    "a value lies within its unit's own history (robust z-score |z| ≤ 3.5)": "update marts.fct_indicator_observation set value = 1030 where value = 103",
    "counts and amounts are not negative": "update marts.fct_indicator_observation set value = -1 where value = 40",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A GX project synced from the suites, and a warehouse where every rule holds."""
    folder = tmp_path_factory.mktemp("gx")
    good = folder / "good" / "reform.duckdb"
    good.parent.mkdir()
    with duckdb.connect(str(good)) as con:
        con.execute(SCHEMA)
        con.executemany(
            "insert into marts.fct_indicator_observation values (?, ?, ?, ?, ?, ?, ?, ?)", GOOD_OBSERVATIONS
        )
        con.execute(
            "insert into raw.submissions select 'sha', indicator_code, reporting_unit_code, 'normal', period_id, "
            "value from marts.fct_indicator_observation"
        )
    sync_project(good, project_dir=folder / "project")
    return folder, good


def test_every_rule_is_covered_here():
    described = {check.description for suite in SUITES for check in suite.checks}
    assert described == set(BREAKERS)


def test_all_rules_pass_on_good_data(project):
    folder, good = project
    results = validate_warehouse(good, "good", project_dir=folder / "project")
    assert len(results) == len(BREAKERS)
    assert [r["description"] for r in results if not r["success"]] == []


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_each_rule_fails_on_its_bad_case(project, rule, tmp_path):
    folder, good = project
    bad = tmp_path / "reform.duckdb"
    shutil.copy(good, bad)
    with duckdb.connect(str(bad)) as con:
        con.execute(BREAKERS[rule])
    results = validate_warehouse(bad, "bad", project_dir=folder / "project")
    failed = [r for r in results if not r["success"]]
    assert [r["description"] for r in failed] == [rule]
    assert failed[0]["unexpected_count"] and failed[0]["unexpected_count"] >= 1
    assert failed[0]["severity"] in ("critical", "warning")
