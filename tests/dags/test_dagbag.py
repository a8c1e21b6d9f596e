"""The DAG folder imports cleanly and every DAG follows the house rules."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from ingest.dbt_cosmos import refuse_rerun

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"reform_ingest", "reform_statistics", "reform_nightly", "reform_backfill", "reform_nightly_sharded"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))  # examples off via AIRFLOW__CORE__LOAD_EXAMPLES


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags_present(dagbag):
    assert set(dagbag.dag_ids) >= EXPECTED


def test_every_dag_has_owner_tags_retries_and_a_timezone_aware_schedule(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.timetable is not None
        assert dag.start_date.tzinfo is not None, f"{dag_id} start_date is naive"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            if task.task_id.startswith("dbt.") and task.retries == 0:  # never re-run: see the nightly's tests below
                assert dag_id == "reform_nightly" and task._pre_execute_hook is refuse_rerun, task.task_id
                continue
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
            assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id} retries without backoff"


def test_validate_fails_at_once_on_a_critical_failure_and_is_retried_on_any_other(dagbag, monkeypatch):
    """Found by an Airflow kill campaign: validate had no retries, so a killed worker left the night's
    build unpublished until an operator cleared the task. A critical failure still fails it at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from ingest import tasks, warehouse

    def blocked(build_id):
        raise warehouse.PublishBlocked("critical validation failed, run r1 not published", [])

    monkeypatch.setattr(tasks, "validate_build", blocked)
    for dag_id in ("reform_nightly", "reform_backfill", "reform_nightly_sharded"):
        validate = dagbag.dags[dag_id].get_task("validate")
        assert validate.retries == 2, dag_id
        with pytest.raises(AirflowFailException, match="not published"):  # Airflow does not retry it
            validate.python_callable("r1")


def test_nightly_runs_at_two_shanghai_time_and_on_new_lake_data(dagbag):
    schedule = dagbag.dags["reform_nightly"].timetable
    assert schedule.timetable.expression == "0 2 * * *"
    assert str(schedule.timetable.timezone) == "Asia/Shanghai"
    assert "reform_lake" in str(schedule.asset_condition)


@pytest.mark.parametrize(("cron", "timed"), [("30 1 * * 1-5", True), ("", False)])
def test_the_nightly_time_comes_from_the_environment(monkeypatch, cron, timed):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("REFORM_NIGHTLY_CRON", cron)
    schedule = DagBag(dag_folder=str(DAGS_DIR / "reform_nightly.py")).dags["reform_nightly"].timetable
    if timed:
        assert schedule.timetable.expression == cron and str(schedule.timetable.timezone) == "Asia/Shanghai"
    else:  # only when new lake data land (or triggered by hand)
        assert not hasattr(schedule, "timetable") and "reform_lake" in str(schedule.asset_condition)


def test_the_nightly_can_be_incremental(monkeypatch):
    """REFORM_NIGHTLY_MODE=incremental: one dbt_build task (a build of what tonight's files reach);
    a value it does not know is an import error that names the variable."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("REFORM_NIGHTLY_MODE", "incremental")
    nightly = DagBag(dag_folder=str(DAGS_DIR / "reform_nightly.py")).dags["reform_nightly"]
    assert {t.task_id: sorted(t.downstream_task_ids) for t in nightly.tasks} == {
        "prepare": ["dbt_build"],
        "dbt_build": ["validate"],
        "validate": ["publish", "reports"],
        "publish": ["reports"],
        "reports": [],
    }
    monkeypatch.setenv("REFORM_NIGHTLY_MODE", "sometimes")
    errors = DagBag(dag_folder=str(DAGS_DIR / "reform_nightly.py")).import_errors
    assert len(errors) == 1 and "REFORM_NIGHTLY_MODE must be full or incremental" in next(iter(errors.values()))


def test_nightly_shows_every_dbt_seed_and_model_as_a_task(dagbag):
    from ingest.dbt_cosmos import ensure_manifest

    ids = set(dagbag.dags["reform_nightly"].task_ids)
    assert {"dbt.fct_indicator_observation_run", "dbt.fct_target_progress_run", "dbt.regions_seed"} <= ids
    nodes = json.loads(ensure_manifest().read_text())["nodes"].values()  # the enabled nodes
    models = {f"dbt.{n['name']}_run" for n in nodes if n["resource_type"] == "model"}
    seeds = {f"dbt.{n['name']}_seed" for n in nodes if n["resource_type"] == "seed"}
    assert len(models) > 50 and len(seeds) > 10
    assert models | seeds <= ids, sorted((models | seeds) - ids)


def test_nightly_runs_one_dbt_build_and_its_model_tasks_only_report_it(dagbag):
    """One `dbt build` (seeds, models, data tests) writes the build file; the model tasks after it
    read its results (sensors, no dbt); nothing in the group re-runs; one task of the DAG at a time."""
    from airflow.sdk import BaseSensorOperator

    dag = dagbag.dags["reform_nightly"]
    assert dag.max_active_tasks == 1 and dag.max_active_runs == 1
    producer = dag.get_task("dbt.dbt_producer_watcher")
    assert producer.upstream_task_ids == {"prepare"}
    assert producer.base_cmd == ["build"] and not producer.select and not producer.exclude
    flags = producer.dbt_cmd_flags
    assert {flags[i + 1] for i, flag in enumerate(flags) if flag == "--resource-type"} == {
        "seed",
        "model",
        "snapshot",
        "test",
    }, "data tests run in the build; the unit tests run in CI (tests/dbt/test_unit_tests.py)"
    assert "xcom_pull(task_ids='prepare', key='build_path')" in producer.env["REFORM_DUCKDB_PATH"]
    assert producer.invocation_mode.value == "subprocess"
    group = [t for t in dag.tasks if t.task_id.startswith("dbt.")]
    reporters = [t for t in group if t.task_id.endswith(("_run", "_seed")) and type(t).__name__ != "EmptyOperator"]
    assert len(reporters) > 60
    for task in reporters:
        assert isinstance(task, BaseSensorOperator) and not task.deferrable, task.task_id
        assert producer.task_id in task.get_flat_relative_ids(upstream=True), task.task_id
    for task in [producer, *reporters]:
        assert task.retries == 0 and task._pre_execute_hook is refuse_rerun, task.task_id
    # after the group: the docs (a dbt process of its own, after every dbt task), then validate → publish
    assert {t.task_id for t in group} <= dag.get_task("dbt_docs").get_flat_relative_ids(upstream=True)
    assert dag.get_task("validate").upstream_task_ids == {"dbt_docs"}
    assert dag.get_task("publish").upstream_task_ids == {"validate"}


def test_a_dbt_task_of_the_nightly_runs_only_once():
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    refuse_rerun({"ti": SimpleNamespace(task_id="dbt.dbt_producer_watcher", try_number=1)})
    with pytest.raises(AirflowFailException, match="Trigger a new reform_nightly run"):
        refuse_rerun({"ti": SimpleNamespace(task_id="dbt.dbt_producer_watcher", try_number=2)})


def test_the_backfill_keeps_one_dbt_build_task(dagbag):
    ids = dagbag.dags["reform_backfill"].task_ids
    assert "dbt_build" in ids and not any(task_id.startswith("dbt.") for task_id in ids)


def test_dag_files_do_no_heavy_work_at_import():
    """DAG files import only airflow.sdk, the standard library and ingest.assets at module level."""
    allowed = {"__future__", "os", "datetime", "pendulum", "airflow.sdk", "ingest.assets", "ingest.dag_parts"}
    for path in DAGS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                assert node.module in allowed, f"{path.name} imports {node.module} at module level"
            elif isinstance(node, ast.Import):
                assert all(a.name in allowed for a in node.names), f"{path.name} imports {node.names[0].name}"
