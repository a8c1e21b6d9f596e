"""The DAG folder imports cleanly and every DAG follows the house rules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"reform_ingest", "reform_statistics", "reform_nightly", "reform_backfill"}


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
            if task.task_id != "validate":  # a critical validation failure must not be retried
                assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
                assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id} retries without backoff"


def test_nightly_runs_at_two_shanghai_time_and_on_new_lake_data(dagbag):
    schedule = dagbag.dags["reform_nightly"].timetable
    assert schedule.timetable.expression == "0 2 * * *"
    assert str(schedule.timetable.timezone) == "Asia/Shanghai"
    assert "reform_lake" in str(schedule.asset_condition)


def test_dag_files_do_no_heavy_work_at_import():
    """DAG files import only airflow.sdk, the standard library and ingest.assets at module level."""
    allowed = {"__future__", "datetime", "pendulum", "airflow.sdk", "ingest.assets", "ingest.dag_parts"}
    for path in DAGS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                assert node.module in allowed, f"{path.name} imports {node.module} at module level"
            elif isinstance(node, ast.Import):
                assert all(a.name in allowed for a in node.names), f"{path.name} imports {node.names[0].name}"
