"""The DAGs really run: dag.test() end to end in a temporary AIRFLOW_HOME and REFORM_HOME."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from ingest import warehouse
from ingest.config import Paths

pytestmark = pytest.mark.slow

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
FORM = (
    "单位代码,报告期,指标代码,数值\n"
    "530700-ZGH,2025年第一季度,vocational_training_person_times,120\n"
    "530700-ZGH,2025年第一季度,no_such_indicator,4\n"
)


@pytest.fixture(scope="module")
def dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    return bag.dags


def test_ingest_then_nightly(dags, reform_home):
    paths = Paths.from_env().ensure()
    (paths.inbox / "530700-ZGH_2025-Q1.csv").write_text(FORM, encoding="utf-8")
    (paths.inbox / "empty.csv").write_bytes(b"")

    run = dags["reform_ingest"].test()
    assert run.state == "success"
    assert not any(paths.inbox.iterdir()), "every inbox file is consumed (archived by hash)"
    # after the mapped ingest, only counts go through XCom (not every file's outcome again)
    results = {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in run.get_task_instances() if ti.map_index < 0}
    assert results["validate_landed"]["files"] == 1
    counts = {"loaded_with_quarantine": 1, "rejected": 1, "rows_accepted": 1, "rows_quarantined": 1}
    assert results["summarize"] == counts
    assert len(list(paths.archive.iterdir())) == 2
    assert len(list((paths.lake / "audit" / "quarantine").glob("*.parquet"))) == 1
    [landed] = list((paths.lake / "audit" / "validation_load").glob("*.parquet"))  # checked right after the load
    suites = {row[0] for row in duckdb.sql(f"select distinct suite from '{landed}'").fetchall()}
    assert "raw_submissions" in suites and all(name.startswith("raw_") for name in suites)
    # the batch's task noted what it did, under its own instance: a retry after a late kill returns it
    [note] = (paths.lake / ".inflight").iterdir()
    noted = json.loads(note.read_text(encoding="utf-8"))
    assert sorted(o["status"] for o in noted.values()) == ["loaded_with_quarantine", "rejected"]

    run = dags["reform_nightly"].test()
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert {task: state for task, state in states.items() if state != "success"} == {}
    # every dbt model and seed was a task of this run, between prepare and the docs and validation
    assert {"prepare", "dbt.dbt_producer_watcher", "dbt_docs", "validate", "publish", "reports"} <= set(states)
    assert {"dbt.fct_indicator_observation_run", "dbt.fct_target_progress_run", "dbt.regions_seed"} <= set(states)
    # the build is named after the run (the same on a retry of prepare, another once the run is cleared)
    build_id = warehouse.airflow_build_id("reform_nightly", run.run_id, run.clear_number or 0, run.run_after)
    assert warehouse.current_release(paths) == build_id
    assert (paths.warehouse_dir / "docs" / "dbt" / "index.html").exists()
    with duckdb.connect(str(paths.published), read_only=True) as con:
        marts = {
            t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
        }
        assert {"dim_region", "fct_target", "fct_indicator_observation", "fct_target_progress"} <= marts
        assert con.execute("select count(*) from marts.fct_target_progress").fetchall()[0][0] > 100
        assert con.execute("select indicator_code, value from marts.fct_indicator_observation").fetchall() == [
            ("vocational_training_person_times", 120.0)
        ]
        assert con.execute("select status from audit.ingest_files order by status").fetchall() == [
            ("loaded_with_quarantine",),
            ("rejected",),
        ]


def test_a_failing_dbt_test_stops_the_nightly_before_publish(dags, reform_home):
    from ingest.tasks import DBT_GROUP_HINT
    from tests.ingest.test_warehouse import inject_raw_row

    paths = Paths.from_env().ensure()
    inject_raw_row(paths, "c", obs_status="bogus")  # fails stg_lake__submissions' accepted_values test

    run = dags["reform_nightly"].test()
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["prepare"] == "success"
    assert states["dbt.dbt_producer_watcher"] == "failed"  # the one dbt build, with the tests
    assert states["dbt.fct_indicator_observation_run"] == "upstream_failed"
    assert {states[task] for task in ("dbt_docs", "validate", "publish")} == {"upstream_failed"}
    assert not paths.published.exists()
    failures = duckdb.sql(f"select task_id, what_to_do from '{paths.lake}/audit/task_failures/*.parquet'").fetchall()
    assert failures == [("dbt.dbt_producer_watcher", DBT_GROUP_HINT)]


def test_ingest_with_an_empty_inbox_skips_the_asset(dags, reform_home):
    run = dags["reform_ingest"].test()
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["summarize"] == "skipped"


def test_backfill_reprocesses_a_period_range_and_republishes(dags, reform_home):
    paths = Paths.from_env().ensure()
    (paths.inbox / "q1.csv").write_text(FORM, encoding="utf-8")
    assert dags["reform_ingest"].test().state == "success"
    assert dags["reform_nightly"].test().state == "success"
    first = warehouse.current_release(paths)

    run = dags["reform_backfill"].test(run_conf={"period_from": "2025Q1", "period_to": "2025年第一季度"})
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == dict.fromkeys(["reprocess", "prepare", "dbt_build", "validate", "publish", "reports"], "success")
    assert warehouse.current_release(paths) != first
    with duckdb.connect(str(paths.published), read_only=True) as con:
        assert con.execute("select count(*) from audit.ingest_files").fetchall()[0][0] == 1


def test_the_incremental_nightly_builds_on_the_published_release(airflow_db, reform_home, monkeypatch):
    """REFORM_NIGHTLY_MODE=incremental: the first night has no release to start from and makes a full
    build; the next adds only the form that arrived since, and publishes what a full build would."""
    from airflow.dag_processing.dagbag import DagBag

    from ingest.intake import ingest_file

    monkeypatch.setenv("REFORM_NIGHTLY_MODE", "incremental")
    nightly = DagBag(dag_folder=str(DAGS_DIR / "reform_nightly.py")).dags["reform_nightly"]
    paths = Paths.from_env().ensure()

    def night(form: str, name: str) -> tuple[str, str]:
        (paths.home / name).write_text(form, encoding="utf-8")
        ingest_file(paths.home / name, paths)
        run = nightly.test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert run.state == "success", states
        assert states == dict.fromkeys(["prepare", "dbt_build", "validate", "publish", "reports"], "success")
        with duckdb.connect(str(paths.published), read_only=True) as con:
            return con.execute("select mode, reason from audit.build_info").fetchall()[0]

    assert night(FORM, "q1.csv") == ("full", "there is no published release to start from")
    first = warehouse.current_release(paths)
    resubmitted = FORM.replace(",120\n", ",125\n")
    mode, reason = night(resubmitted, "q1_v2.csv")
    tables = r"\(raw\.\w+ \d+(, raw\.\w+ \d+)*\)"  # how many of the new files each table got
    assert mode == "incremental" and re.fullmatch(rf"\d+ new lake file\(s\) since {first} {tables}", reason), reason
    with duckdb.connect(str(paths.published), read_only=True) as con:
        assert con.execute("select base_run_id from audit.build_info").fetchall() == [(first,)]
        current = con.execute("select indicator_code, value from marts.fct_indicator_observation_current").fetchall()
    assert current == [("vocational_training_person_times", 125.0)], "the resubmission is the current version"


def test_statistics_dag_loads_microdata_and_ingest_leaves_them(dags, reform_home):
    from ingest.generate_microdata import generate_microdata

    paths = Paths.from_env().ensure()
    files = generate_microdata(paths.inbox / "microdata")
    (paths.inbox / "q1.csv").write_text(FORM, encoding="utf-8")
    assert dags["reform_ingest"].test().state == "success"
    assert sorted(p.name for p in paths.inbox.rglob("*") if p.is_file()) == sorted(f.name for f in files)
    assert dags["reform_statistics"].test().state == "success"
    assert not any(p.is_file() for p in paths.inbox.rglob("*"))
    for kind in ("enterprises", "workers", "trainings", "certifications", "wages", "survey_responses"):
        assert list((paths.lake / "raw" / kind).glob("*.parquet")), kind


def test_a_failed_task_is_audited_with_what_to_do(dags, reform_home):
    paths = Paths.from_env().ensure()
    run = dags["reform_backfill"].test(run_conf={"period_from": "2025年13月", "period_to": "*"})
    assert run.state == "failed"
    [failure] = duckdb.sql(
        f"select task_id, error_type, error, what_to_do from '{paths.lake}/audit/task_failures/*.parquet'"
    ).fetchall()
    task_id, error_type, error, what_to_do = failure
    assert (task_id, error_type) == ("reprocess", "AirflowFailException")
    assert "2025年13月" in error and "valid period" in error
    assert what_to_do.startswith("a parameter is not valid")
