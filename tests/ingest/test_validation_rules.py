"""Every Great Expectations rule has a passing and a failing case, run in DuckDB through GX."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from ingest.validation import SUITES, sync_project, validate_warehouse

HAND_WRITTEN = [suite for suite in SUITES if not suite.generated]

pytestmark = pytest.mark.slow

SCHEMA = """
create schema raw; create schema marts;
create table marts.dim_region as select * from (values ('530700', '%'), ('530702', '%')) t(region_code, x);
create table marts.dim_period as select *, 'quarter' as period_type from (values ('2024-Q1'), ('2024-Q2'),
    ('2024-Q3'), ('2024-Q4'), ('2025-Q1')) t(period_id);
create table marts.dim_indicator as select * from (values
    ('skill_talents_total', '人', null, 'sum', null, 'quarter'),
    ('high_skill_talents_total', '人', 'skill_talents_total', 'sum', null, 'quarter'),
    ('coverage_rate', '%', null, 'ratio', 'skill_talents_total', 'annual'))
    t(indicator_code, unit, parent_indicator_code, aggregation, numerator_code, periodicity);
create table raw.submissions (file_sha256 varchar, indicator_code varchar, reporting_unit_code varchar,
    obs_status varchar, period_id varchar, value double);
create table marts.fct_indicator_observation (reporting_unit_code varchar, region_code varchar, period_id varchar,
    indicator_code varchar, version integer, is_current boolean, unit varchar, value double,
    obs_status varchar default 'normal');
create table raw.regions as select '530700' as region_code;
create table raw.skill_grades as select 'senior' as grade_code;
create table raw.enterprises as select '91530700MA6K000012' as credit_code, '530700' as region_code, 120 as headcount;
create table raw.workers as select repeat('a', 32) as worker_pseudonym, 'senior' as skill_grade_code;
create table raw.survey_responses as select 1.5 as design_weight, 4 as satisfaction;
create table marts.fct_target as select * from (values ('masked', null, 'd.txt', '专栏四'),
    ('normal', 5.0, 'd.txt', '专栏一')) t(status, target_value, source_document, source_section);
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
    "('U1', '530700', '2024-Q1', 'skill_talents_total', 1, false, '人', 100, 'normal')",
    "exactly one current version per unit, region, period and indicator": "update marts.fct_indicator_observation set is_current = true where version = 1 and unit = '%'",
    "every region code exists in dim_region": "update marts.fct_indicator_observation set region_code = '999999' where value = 40",
    "every period lies in the reporting calendar (dim_period)": "update marts.fct_indicator_observation set period_id = '2030-Q1' where value = 40",
    "the unit of measure is the catalog's": "update marts.fct_indicator_observation set unit = '人次' where value = 40",
    "rates lie within 0–100 %": "update marts.fct_indicator_observation set value = 150 where value = 85.5",
    "a part never exceeds its whole (e.g. high-skill talents ≤ skill talents)": "update marts.fct_indicator_observation set value = 104 where value = 40",
    "a value lies within its unit's own history (robust z-score |z| ≤ 3.5)": "update marts.fct_indicator_observation set value = 1030 where value = 103",
    "counts and amounts are not negative": "update marts.fct_indicator_observation set value = -1 where value = 40",
    # a ratio is reported for its numerator's periods (coverage_rate: quarterly, whatever its own says)
    "a value's period is one its indicator is reported for (others do not count towards the year)": "update "
    "marts.dim_indicator set periodicity = 'annual' where indicator_code = 'high_skill_talents_total'",
    "a resubmission changes the value it replaces (no duplicate submissions)": "update marts.fct_indicator_observation set value = 80 where version = 2",
    "unified social credit codes carry a valid GB 32100 check character": "update raw.enterprises set credit_code = left(credit_code, 17) || 'X'",
    "enterprise regions are GB/T 2260 codes of the reference data": "update raw.enterprises set region_code = '999999'",
    "enterprise headcounts are not negative": "update raw.enterprises set headcount = -1",
    "worker records hold a pseudonym, never an ID number": "update raw.workers set worker_pseudonym = '11010519491231002X'",
    "skill grades are on the eight-level ladder": "update raw.workers set skill_grade_code = 'wizard'",
    "survey design weights are positive": "update raw.survey_responses set design_weight = 0",
    "satisfaction is on the 1–5 scale": "update raw.survey_responses set satisfaction = 6",
    "a masked target has no value (the documents' hidden numbers are never guessed)": "update marts.fct_target set target_value = 1 where status = 'masked'",
    "every target comes with its source document and section": "update marts.fct_target set source_section = null where status = 'normal'",
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
            "insert into marts.fct_indicator_observation values (?, ?, ?, ?, ?, ?, ?, ?, 'normal')", GOOD_OBSERVATIONS
        )
        con.execute(
            "insert into raw.submissions select 'sha', indicator_code, reporting_unit_code, 'normal', period_id, "
            "value from marts.fct_indicator_observation"
        )
    sync_project(good, project_dir=folder / "project", suites=HAND_WRITTEN)
    return folder, good


def test_every_rule_is_covered_here():
    described = {check.description for suite in HAND_WRITTEN for check in suite.checks}
    assert described == set(BREAKERS)


def test_all_rules_pass_on_good_data(project):
    folder, good = project
    results = validate_warehouse(good, "good", project_dir=folder / "project", suites=HAND_WRITTEN)
    assert len(results) == len(BREAKERS)
    assert [r["description"] for r in results if not r["success"]] == []


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_each_rule_fails_on_its_bad_case(project, rule, tmp_path):
    folder, good = project
    bad = tmp_path / "reform.duckdb"
    shutil.copy(good, bad)
    with duckdb.connect(str(bad)) as con:
        con.execute(BREAKERS[rule])
    results = validate_warehouse(bad, "bad", project_dir=folder / "project", suites=HAND_WRITTEN)
    failed = [r for r in results if not r["success"]]
    assert [r["description"] for r in failed] == [rule]
    assert failed[0]["unexpected_count"] and failed[0]["unexpected_count"] >= 1
    assert failed[0]["severity"] in ("critical", "warning")


def test_committed_gx_project_matches_the_suites(project, tmp_path):
    """`SUITES` is the source; the committed project must be what sync_project writes (run it and commit)."""
    from ingest.config import GX_PROJECT_DIR

    _, good = project
    copy = tmp_path / "expectations"
    shutil.copytree(GX_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("uncommitted"))
    sync_project(good, project_dir=copy)
    committed = {
        p.relative_to(GX_PROJECT_DIR): p.read_bytes()
        for p in GX_PROJECT_DIR.rglob("*.json")
        if "uncommitted" not in p.parts
    }
    synced = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*.json") if "uncommitted" not in p.parts}
    assert synced == committed, "run ingest.validation.sync_project on a built warehouse and commit expectations/"
    # the generated key suites are checked by every build: a missing checkpoint fails it loudly


def test_generated_key_suites_cover_every_mart_and_catch_duplicates(project, tmp_path):
    from ingest.validation import mart_key_suites

    suites = {suite.table: suite for suite in mart_key_suites()}
    assert {"dim_region", "fct_indicator_observation", "fct_target_progress", "bridge_region_ancestor"} <= set(suites)
    keys = [suites["dim_region"]]
    _, good = project
    bad = tmp_path / "reform.duckdb"
    shutil.copy(good, bad)
    sync_project(good, project_dir=tmp_path / "keys", suites=keys)
    assert all(r["success"] for r in validate_warehouse(good, "ok", project_dir=tmp_path / "keys", suites=keys))
    with duckdb.connect(str(bad)) as con:
        con.execute("insert into marts.dim_region values ('530700', 'again')")
    failed = [r for r in validate_warehouse(bad, "dup", project_dir=tmp_path / "keys", suites=keys) if not r["success"]]
    assert [(r["description"], r["severity"]) for r in failed] == [("dim_region: region_code is unique", "critical")]


@pytest.mark.parametrize(("limit", "shown"), [("1GiB", "1.0 GiB"), ("768MiB", "768.0 MiB")])
def test_validation_runs_within_its_memory_budget(project, tmp_path, monkeypatch, limit, shown):
    """GX's DuckDB connections get REFORM_GX_MEMORY_LIMIT and a spill folder beside the build (DuckDB's
    own default would be 80 % of the machine); the check below fails on any other limit."""
    from ingest.validation import Suite, _sql

    _folder, good = project
    probe = Suite(
        "memory_probe",
        "marts",
        "fct_indicator_observation",
        [
            _sql(
                "critical",
                "the budget is applied",
                "select current_setting('memory_limit') as memory_limit, current_setting('temp_directory') as spill "
                f"from {{batch}} where current_setting('memory_limit') <> '{shown}' "
                "or current_setting('temp_directory') not like '%/gx/spill'",
            )
        ],
    )
    sync_project(good, project_dir=tmp_path / "project", suites=[probe])
    monkeypatch.setenv("REFORM_GX_MEMORY_LIMIT", limit)
    [result] = validate_warehouse(good, "budget", project_dir=tmp_path / "project", suites=[probe])
    assert result["success"], result
    monkeypatch.setenv("REFORM_GX_MEMORY_LIMIT", "3GB")
    [result] = validate_warehouse(good, "over", project_dir=tmp_path / "project", suites=[probe])
    assert not result["success"], "the probe cannot see the limit"


@pytest.mark.parametrize("suffix", ["5800ad", "a1b2c3", "000000"])
def test_a_run_id_whose_suffix_reads_as_a_time_zone_still_names_a_gx_run(suffix):
    from ingest.validation import _gx_run_id

    run = _gx_run_id(f"20261203T204241-{suffix}")
    name, stamp = run.to_tuple()  # GX stores each result under this key
    assert name == f"20261203T204241-{suffix}" and stamp.endswith("Z")


def test_a_capped_rule_keeps_the_same_failing_rows_every_time(project, tmp_path, monkeypatch):
    """More failing rows than are kept: the first in column order, not whichever the scan met first."""
    from ingest import validation

    _, good = project
    bad = tmp_path / "reform.duckdb"
    shutil.copy(good, bad)
    with duckdb.connect(str(bad)) as con:  # inserted last to first, so that file order is not the answer
        for unit in ("U9", "U8", "U7", "U6", "U5"):
            con.execute(
                "insert into marts.fct_indicator_observation values "
                "(?, '530700', '2025-Q1', 'skill_talents_total', 1, true, '人', -1, 'normal')",
                [unit],
            )
    rule = "counts and amounts are not negative"
    suites = [s for s in HAND_WRITTEN if any(c.description == rule for c in s.checks)]
    failed = [{"suite": suites[0].name, "description": rule, "success": False}]
    monkeypatch.setattr(validation, "MAX_FAILING_ROWS_PER_RULE", 2)
    kept = [validation.collect_failures(bad, "r", failed, suites) for _ in range(2)]
    assert [f["reporting_unit_code"] for f in kept[0]] == ["U5", "U6"]
    assert kept[0] == kept[1]
