"""reform_nightly_sharded really runs (dag.test()) and publishes the same marts as an unsharded build.

One sharded build of the demo lake (about a minute): a mapped task per province shard, the national
roll-up from their exports, validation and publish. Its warehouse is compared, table by table and
row by row (EXCEPT ALL both ways), with the session's demo warehouse built by `reform build`.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import duckdb
import pytest

from ingest import warehouse
from ingest.config import Paths
from tests.conftest import table_differences

pytestmark = pytest.mark.slow

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "reform_nightly_sharded.py"


def test_sharded_dag_publishes_the_marts_of_an_unsharded_build(airflow_db, demo_home, reform_home):
    from airflow.dag_processing.dagbag import DagBag

    paths = Paths.from_env().ensure()
    shutil.copytree(demo_home / "lake", paths.lake, dirs_exist_ok=True)
    unsharded = demo_home / "warehouse" / "reform.duckdb"
    with contextlib.closing(duckdb.connect(str(unsharded), read_only=True)) as con:
        [(as_of_date,)] = con.execute("select distinct as_of_date from marts.fct_target_progress").fetchall()

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    run = bag.dags["reform_nightly_sharded"].test(run_conf={"dbt_vars": {"as_of_date": str(as_of_date)}})
    assert run.state == "success"

    instances = run.get_task_instances()
    shards = {ti.rendered_map_index: ti.state for ti in instances if ti.task_id == "build_province"}
    assert shards == {"000000": "success", "230000": "success", "530000": "success"}
    others = {ti.task_id: ti.state for ti in instances if ti.task_id != "build_province"}
    assert others == dict.fromkeys(["plan", "provinces", "roll_up", "validate", "publish", "reports"], "success")
    assert warehouse.current_release(paths) is not None
    # when its lake was read is kept with the release: an older build overlapping it is refused over it
    from ingest.incremental import Plan

    assert Plan.read(paths.releases / warehouse.current_release(paths)).inventoried_at > 0
    assert not paths.builds.exists() or not any(paths.builds.iterdir()), "the build and its shards are cleaned up"

    with contextlib.closing(duckdb.connect()) as con:
        con.execute(f"attach '{unsharded}' as a (read_only)")
        con.execute(f"attach '{paths.published}' as b (read_only)")
        [(validated,)] = con.execute("select count(*) from b.audit.validation_results").fetchall()
        assert validated > 0, "the roll-up is validated like any build"
        tables = [
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = 'a' "
                "and schema_name = 'marts' order by 2"
            ).fetchall()
        ] + ["marts.fct_indicator_observation_current", "audit.ingest_files", "audit.quarantine"]
        assert len(tables) >= 35
        assert {con.execute(f"select count(*) from b.{t}").fetchone()[0] > 0 for t in tables} == {True}
        differing = {table: diff for table in tables if (diff := table_differences(con, table)) != (0, 0)}
        assert differing == {}
        schemas = {
            row[0]
            for row in con.execute("select schema_name from duckdb_schemas() where database_name = 'b'").fetchall()
        }
        assert "shards" not in schemas, "the roll-up's views onto the shards' exports are not published"

        # the raw checks of the rows that stay in the shards are the shards' (the roll-up's own tables of
        # those rows are empty): the same verdict, over as many rows, as the unsharded build's
        def raw_verdict(db: str) -> str:
            return (
                "select suite, description, severity, success, unexpected_count, element_count "
                f"from {db}.audit.validation_results where suite in ('raw_submissions', 'raw_workers', "
                "'raw_enterprises') and run_id = "
                f"(select arg_max(run_id, validated_at) from {db}.audit.validation_results)"
            )

        verdict = con.execute(raw_verdict("b")).fetchall()
        assert len(verdict) == 11
        assert sorted(verdict, key=str) == sorted(con.execute(raw_verdict("a")).fetchall(), key=str)
        rows_checked = {row[5] for row in verdict if row[0] == "raw_submissions"} - {None}
        assert rows_checked == {con.execute("select count(*) from a.raw.submissions").fetchone()[0]}
        carried = con.execute(
            "select distinct carried_from_run_id from b.audit.validation_results where suite = 'raw_submissions' "
            "and run_id = (select arg_max(run_id, validated_at) from b.audit.validation_results)"
        ).fetchall()
        assert [c.split("-")[-1] for (c,) in carried for c in c.split(", ")] == ["000000", "230000", "530000"]


def test_a_province_that_fails_stops_the_publish_and_is_audited(airflow_db, reform_home, monkeypatch):
    """A shard whose data fail a critical check: not retried, audited, no roll-up, nothing published."""
    from airflow.dag_processing.dagbag import DagBag

    from ingest import lake, shards

    paths = Paths.from_env().ensure()
    row = {"file_sha256": "a" * 64, "row_number": 2, "region_code": "530700", "indicator_code": "urban_new_jobs"}
    marker = {"file_sha256": "a" * 64, "reporting_unit_code": "530700-ZGH", "status": "loaded"}
    lake.write_file_outputs(paths.lake, "a" * 64, "submissions", [row], [], marker)

    def build_province(run_id, province, dbt_vars=None):  # the shards' builds themselves are tested above
        if province == "530000":
            raise warehouse.PublishBlocked("critical validation failed in shard 530000", [])
        return {"shard": province, "host": "test", "raw_rows": {}}

    monkeypatch.setattr(shards, "build_province", build_province)
    run = DagBag(dag_folder=str(DAG_FILE)).dags["reform_nightly_sharded"].test()
    assert run.state == "failed"
    instances = run.get_task_instances()
    shard_states = {
        ti.rendered_map_index: (ti.state, ti.try_number) for ti in instances if ti.task_id == "build_province"
    }
    assert shard_states == {"000000": ("success", 1), "530000": ("failed", 1)}, "a failed check is not retried"
    states = {ti.task_id: ti.state for ti in instances if ti.task_id != "build_province"}
    assert states["roll_up"] == "upstream_failed" and states["publish"] == "upstream_failed"
    assert not paths.published.exists()
    [(task_id, error, what_to_do)] = duckdb.sql(
        f"select task_id, error, what_to_do from '{paths.lake}/audit/task_failures/*.parquet'"
    ).fetchall()
    assert task_id == "build_province" and "shard 530000" in error
    assert what_to_do.startswith("a critical check failed")
