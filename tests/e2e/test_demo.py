"""`reform demo` end to end: sample data → real Airflow DAG runs → dbt → GX → published warehouse.

Runs the installed command in its own process with a temporary REFORM_HOME, then reads the published
warehouse from another process, read-only, as an analyst or BI tool would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_reform

pytestmark = pytest.mark.slow

READER = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
q = lambda sql: con.execute(sql).fetchall()
print(json.dumps({
    "schemas": sorted({r[0] for r in q("select schema_name from information_schema.schemata")}),
    "files": dict(q("select status, count(*) from audit.ingest_files where source_kind = 'submissions' group by all")),
    "microdata": dict(q(
        "select source_kind, sum(rows_accepted) from audit.ingest_files where source_kind != 'submissions' group by all"
    )),
    "reconciles": q(
        "select count(*) from audit.ingest_files where rows_received != rows_accepted + rows_quarantined"
    )[0][0],
    "quarantine_reasons": sorted(r[0] for r in q("select distinct reason_code from audit.quarantine")),
    "observations": q("select count(*) from marts.fct_indicator_observation")[0][0],
    "current": q("select count(*) from marts.fct_indicator_observation where is_current")[0][0],
    "resubmitted": q("select count(*) from marts.fct_indicator_observation where version > 1")[0][0],
    "masked_with_value": q(
        "select count(*) from marts.fct_indicator_observation where obs_status = 'masked' and value is not null"
    )[0][0],
    "masked": q("select count(*) from marts.fct_indicator_observation where obs_status = 'masked'")[0][0],
    "orphans": q(
        "select count(*) from marts.fct_indicator_observation o anti join marts.dim_region r using (region_code)"
    )[0][0],
    "units": q("select count(distinct reporting_unit_code) from marts.fct_indicator_observation")[0][0],
    "validations": q("select severity, bool_and(success) from audit.validation_results group by all order by 1"),
    "failed_rules": q("select distinct description from audit.validation_results where not success"),
    "regions": q("select count(*) from marts.dim_region")[0][0],
}))
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    first = run_reform("demo", home=home)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return home, first


def read_warehouse(home) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", READER, str(home / "warehouse" / "reform.duckdb")],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_demo_prints_a_summary(demo):
    _, first = demo
    assert "airflow dags test reform_ingest" in first.stdout
    assert "airflow dags test reform_nightly" in first.stdout
    assert "rows:" in first.stdout and "quarantined" in first.stdout
    assert "validations (critical):" in first.stdout and "0 failed" in first.stdout.split("validations (critical):")[1]
    assert "headline figures" in first.stdout
    assert "targets: " in first.stdout and "achieved" in first.stdout
    assert "expected submissions received" in first.stdout


def test_published_warehouse_contents(demo):
    home, _ = demo
    w = read_warehouse(home)
    assert {"raw", "staging", "marts", "audit"} <= set(w["schemas"])
    assert w["files"]["loaded"] > 50
    assert w["files"]["rejected"] == 3  # empty upload, .docx, truncated workbook
    assert w["reconciles"] == 0
    assert {"unknown_indicator", "not_a_number", "bad_period", "duplicate_row"} <= set(w["quarantine_reasons"])
    assert w["observations"] > w["current"] > 500
    assert w["resubmitted"] >= 2  # the corrected 2025-Q1 file: its rows are version 2
    assert w["masked"] > 0 and w["masked_with_value"] == 0
    assert w["orphans"] == 0
    assert w["units"] == 12
    # every critical rule holds; the warnings the sample data provoke on purpose are recorded, not blocking
    assert w["validations"] == [["critical", True], ["warning", False]]
    assert w["failed_rules"] == [["a value lies within its unit's own history (robust z-score |z| ≤ 3.5)"]]
    assert w["regions"] > 70
    assert set(w["microdata"]) == {"enterprises", "workers", "trainings", "certifications", "wages", "survey_responses"}
    assert all(rows > 0 for rows in w["microdata"].values())


def test_second_demo_run_reuses_everything_and_adds_nothing(demo):
    home, _ = demo
    before = read_warehouse(home)
    second = run_reform("demo", home=home)
    assert second.returncode == 0, second.stdout[-3000:]
    after = read_warehouse(home)
    assert after["files"] == before["files"]
    assert after["observations"] == before["observations"]
    releases = sorted(p.name for p in (home / "warehouse" / "releases").iterdir())
    assert len(releases) == 2


def test_quality_report_for_the_unit_with_refused_rows(demo):
    home, _ = demo
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); print(con.execute("
        "\"select reporting_unit_code from audit.ingest_files where status = 'loaded_with_quarantine' "
        "and source_kind = 'submissions'\""
        ").fetchall()[0][0])"
    )
    unit = subprocess.run(
        [sys.executable, "-c", code, str(home / "warehouse" / "reform.duckdb")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    report = run_reform("quality", "--unit", unit, home=home)
    assert report.returncode == 0
    assert "rows refused at ingest: 4" in report.stdout
    for reason in ("unknown_indicator", "not_a_number", "bad_period", "duplicate_row"):
        assert reason in report.stdout
    assert "robust z-score" in report.stdout  # the outliers the sample data carry


def test_status_shows_what_a_data_engineer_needs(demo):
    home, _ = demo
    status = run_reform("status", home=home)
    assert status.returncode == 0, status.stdout + status.stderr
    out = status.stdout
    assert "files waiting in the inbox: 0" in out
    assert "published warehouse:" in out and "old)" in out
    assert "built: full (a full build was asked for)" in out
    assert "last builds (validation runs):" in out
    for reason in ("unknown_indicator", "not_a_number", "bad_period", "duplicate_row"):
        assert reason in out
    assert "robust z-score" in out


def readme_queries() -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Ten example queries", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def test_readme_has_ten_example_queries():
    assert len(readme_queries()) == 10


@pytest.mark.parametrize("number", range(1, 11))
def test_readme_example_query_runs_and_answers(demo, number):
    home, _ = demo
    query = readme_queries()[number - 1]
    with duckdb.connect(str(home / "warehouse" / "reform.duckdb"), read_only=True) as con:
        rows = con.execute(query).fetchall()
    assert rows, f"example query {number} returned nothing on the demo warehouse:\n{query}"
