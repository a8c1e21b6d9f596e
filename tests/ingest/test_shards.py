"""Routing the lake by province (ingest/shards.py): every row goes to exactly one shard, nothing is lost.

The build itself (dbt, GX, the national roll-up equal to an unsharded build) runs in
tests/dags/test_sharded_dag.py; these tests only load shards, which takes no dbt.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from ingest import lake, shards, warehouse
from ingest.config import Paths

RECEIVED = datetime(2025, 4, 1, 2, 0)


def _file(lake_dir: Path, sha: str, source: str, rows: list[dict], unit: str | None = None, **record) -> None:
    """One received file in the lake: its rows, a quarantined row, and its marker."""
    rows = [{"file_sha256": sha, "row_number": n, "received_at": RECEIVED, **row} for n, row in enumerate(rows, 2)]
    quarantine = [{"file_sha256": sha, "row_number": 99, "reason_code": "bad_period"}]
    marker = {"file_sha256": sha, "source": source, "reporting_unit_code": unit, "received_at": RECEIVED, **record}
    lake.write_file_outputs(lake_dir, sha, source, rows, quarantine, marker)


@pytest.fixture
def small_lake(reform_home) -> Paths:
    """Forms of a Yunnan and a Heilongjiang unit, a microdata file of both provinces (with a region that
    is unknown, one that is national and one missing), trainings (no region), a validation history,
    and a file whose marker is not written yet (still being ingested)."""
    paths = Paths.from_env().ensure()
    form = {"indicator_code": "urban_new_jobs", "period_id": "2025", "value": 1.0, "obs_status": "normal"}
    _file(
        paths.lake,
        "a" * 64,
        "submissions",
        [{**form, "region_code": "530700"}, {**form, "region_code": "530721"}],
        "530700-ZGH",
    )
    _file(paths.lake, "b" * 64, "submissions", [{**form, "region_code": "230000"}], "230000-RST")
    regions = ["530702", "533221", "230100", "999999", None, "000000"]  # 533221: a historical Lijiang county
    _file(
        paths.lake,
        "c" * 64,
        "workers",
        [{"worker_pseudonym": f"w{n}", "region_code": r} for n, r in enumerate(regions)],
    )
    _file(paths.lake, "d" * 64, "trainings", [{"worker_pseudonym": "w0", "hours": 8.0}])
    _file(paths.lake, "e" * 64, "submissions", [], status="rejected")
    lake.write_validation_results(
        paths.lake, "20250101T000000-abcdef", [{"run_id": "r", "suite": "s", "success": True}], []
    )
    lake.write_records(
        paths.lake / "raw" / "submissions" / f"{'f' * 64}.parquet",
        [{**form, "file_sha256": "f" * 64, "region_code": "530700"}],
        lake.RAW_SCHEMAS["submissions"],
    )
    return paths


def _rows(build: Path) -> set[tuple[str, object, object]]:
    """(table, file, row) of every lake row in a build file (rows without lineage: their first column)."""
    found = set()
    with contextlib.closing(duckdb.connect(str(build), read_only=True)) as con:
        for table, (_, schema) in lake.LAKE_TABLES.items():
            key = "file_sha256, row_number" if "row_number" in schema.names else f"{schema.names[0]}, null"
            found |= {(table, *row) for row in con.execute(f"select {key} from {table}").fetchall()}
    return found


def test_a_region_belongs_to_the_province_above_it():
    provinces = shards.region_provinces()
    assert provinces["530721"] == provinces["530700"] == provinces["530000"] == "530000"
    assert provinces["533221"] == "530000"  # historical code → its historical parents → Yunnan
    assert provinces["230100"] == "230000"
    assert "000000" not in provinces


def test_every_committed_row_goes_to_exactly_one_shard(small_lake):
    planned = shards.plan(small_lake, "run1")
    assert planned["shards"] == ["000000", "230000", "530000"]

    loaded: dict[str, set] = {}
    for shard in planned["shards"]:
        build, counts = shards.prepare_shard(small_lake, "run1", shard)
        assert counts == planned["rows"][shard]
        loaded[shard] = _rows(build)

    everything = set().union(*loaded.values())
    assert sum(len(rows) for rows in loaded.values()) == len(everything), "no row is in two shards"
    with contextlib.closing(duckdb.connect()) as con:
        lake.load_into(con, small_lake.lake)
        build = small_lake.builds / "whole" / "reform.duckdb"
        build.parent.mkdir(parents=True)
        con.execute(f"attach '{build}' as whole")
        con.execute("copy from database memory to whole")
    # the file whose marker is not written yet is in flight: neither a shard nor a whole build loads it
    assert not {row for rows in (everything, _rows(build)) for row in rows if row[1] == "f" * 64}
    assert everything == _rows(build), "every committed row is in a shard"

    workers = {shard: {r for r in rows if r[0] == "raw.workers"} for shard, rows in loaded.items()}
    assert len(workers["530000"]) == 2  # 530702 and the historical 533221
    assert len(workers["230000"]) == 1
    assert len(workers["000000"]) == 3  # unknown, missing and national regions
    files = {shard: {r[1] for r in rows if r[0] == "raw.ingest_files"} for shard, rows in loaded.items()}
    assert files == {"530000": {"a" * 64}, "230000": {"b" * 64}, "000000": {"c" * 64, "d" * 64, "e" * 64}}
    quarantine = {shard: {r[1] for r in rows if r[0] == "raw.quarantine"} for shard, rows in loaded.items()}
    assert quarantine == files, "quarantined rows follow their file"
    assert {r[0] for r in loaded["000000"]} >= {"raw.trainings", "raw.validation_results"}


def test_a_lake_changed_under_the_build_is_refused(small_lake):
    shards.plan(small_lake, "run2")
    lake.remove_file_outputs(small_lake.lake, "b" * 64)  # e.g. a backfill re-reading the file
    with pytest.raises(warehouse.BuildError, match="other rows than planned"):
        shards.prepare_shard(small_lake, "run2", "230000")


def test_the_roll_up_waits_for_every_shard(small_lake):
    planned = shards.plan(small_lake, "run3")
    shards.prepare_shard(small_lake, "run3", planned["shards"][0])  # prepared, never finished
    with pytest.raises(warehouse.BuildError, match="has not finished"):
        shards.prepare_roll_up(small_lake, "run3")


def test_a_retried_shard_is_refused_while_the_earlier_try_still_runs(small_lake):
    """A shard's task whose process outlived it, beside its retry: the retry used to remove the shard's
    folder under it. Refused now, the earlier try's files untouched."""
    from tests.conftest import held_elsewhere

    planned = shards.plan(small_lake, "run4")
    shard = planned["shards"][0]
    build, _ = shards.prepare_shard(small_lake, "run4", shard)
    build, counts = shards.prepare_shard(small_lake, "run4", shard)  # prepared alone again: the file starts over
    assert counts == planned["rows"][shard]
    refused = pytest.raises(warehouse.BuildRunning, match=f"shard {shard} of build run4: an earlier try is still")
    with held_elsewhere(build.parent / warehouse.WORKING_LOCK), refused:
        shards.build_shard(small_lake, "run4", shard)
    assert build.exists()


def test_load_into_without_a_filter_loads_everything_and_a_filter_selects_rows(small_lake):
    with contextlib.closing(duckdb.connect()) as con:
        whole = lake.load_into(con, small_lake.lake)
        filtered = lake.load_into(con, small_lake.lake, where={"raw.workers": "region_code like '53%'"})
    assert filtered == {**whole, "raw.workers": 2}


@pytest.mark.slow
def test_nothing_is_lost_on_the_demo_lake(demo_home, reform_home):
    """The demo's lake: the shards' rows add up to the lake's, table by table."""
    paths = Paths.from_env()
    shutil.copytree(demo_home / "lake", paths.lake)
    planned = shards.plan(paths, "demo")
    assert planned["shards"] == ["000000", "230000", "530000"]  # Heilongjiang, Yunnan, and no province
    totals: dict[str, int] = {}
    for shard in planned["shards"]:
        _, counts = shards.prepare_shard(paths, "demo", shard)
        for table, count in counts.items():
            totals[table] = totals.get(table, 0) + count
    with contextlib.closing(duckdb.connect()) as con:
        assert totals == lake.load_into(con, paths.lake)
    assert totals["raw.submissions"] > 3000 and totals["raw.workers"] > 1000


def test_reform_build_sharded_runs_the_sharded_build(reform_home, monkeypatch, capsys):
    from ingest import cli

    calls = []

    def fake(paths, run_id=None, progress=print, dbt_vars=None):
        calls.append(run_id)
        report = warehouse.BuildReport("r1", paths.published, published_path=paths.published)
        report.timings = {"shards": 1.0}
        return report

    monkeypatch.setattr(shards, "build_sharded", fake)
    assert cli.main(["build", "--sharded", "--run-id", "r1"]) == 0
    assert calls == ["r1"]
    assert "published" in capsys.readouterr().out


def test_the_roll_up_takes_the_raw_checks_of_the_rows_left_in_the_shards_from_the_shards(reform_home):
    """The roll-up's raw.submissions is empty: its own check would pass on nothing. The verdict of the
    shards is merged instead: failed if it failed in any shard, counts summed, failing rows kept."""
    paths = Paths.from_env().ensure()
    at = datetime(2026, 1, 1, 2, 0)

    def result(success: bool, unexpected: int, rows: int, sample: list[str], suite: str = "raw_submissions"):
        return {
            "validated_at": at,
            "suite": suite,
            "batch": "raw.submissions",
            "expectation": "unexpected_rows_expectation",
            "column_name": None,
            "severity": "warning",
            "success": success,
            "unexpected_count": unexpected,
            "element_count": rows,
            "unexpected_sample": json.dumps(sample),
            "description": "values are within the indicator's range",
        }

    lake.write_validation_results(
        paths.lake, "r1-530000", [{"run_id": "r1-530000", **result(True, 0, 40, [])}], [], stage="shard"
    )
    failing_row = {"run_id": "r1-230000", "suite": "raw_submissions", "rule": "values…", "reporting_unit_code": "U1"}
    lake.write_validation_results(
        paths.lake,
        "r1-230000",
        [
            {"run_id": "r1-230000", **result(False, 2, 10, ["a", "b"])},
            {"run_id": "r1-230000", **result(True, 0, 10, [], suite="fct_target")},
        ],
        [failing_row],
        stage="shard",
    )
    results, failures = shards.shards_verdict(paths, "r1", ["230000", "530000"], {"raw_submissions"})
    assert len(results) == 1
    [merged] = results
    assert (merged["run_id"], merged["success"], merged["unexpected_count"], merged["element_count"]) == (
        "r1",
        False,
        2,
        50,
    )
    assert json.loads(merged["unexpected_sample"]) == ["a", "b"]
    assert merged["carried_from_run_id"] == "r1-230000, r1-530000"
    assert [(f["run_id"], f["reporting_unit_code"]) for f in failures] == [("r1", "U1")]

    with pytest.raises(warehouse.BuildError, match=r"r1-110000.*build that shard again"):
        shards.shards_verdict(paths, "r1", ["110000", "230000"], {"raw_submissions"})


def test_reform_build_says_what_failed_when_duckdb_stops_it(reform_home, monkeypatch, capsys):
    """A DuckDB error in a build (an unreadable lake file, a full disk) ended in a traceback with no
    word on the published warehouse; it is a BUILD FAILED line, exit 1."""
    import duckdb

    from ingest import cli

    def unreadable(*args, **kwargs):
        raise duckdb.IOException('IO Error: No files found that match the pattern "lake/raw/submissions/seg-1.parquet"')

    monkeypatch.setattr(warehouse, "build", unreadable)
    assert cli.main(["build"]) == 1
    said = capsys.readouterr().out
    assert said.startswith("BUILD FAILED in DuckDB (IOException): IO Error: No files found that match the pattern")
    assert "The published warehouse is unchanged" in said
