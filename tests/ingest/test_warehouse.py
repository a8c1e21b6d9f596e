"""Build → validate → publish: the gate protects the published warehouse, releases allow rollback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from ingest import lake, warehouse
from ingest.config import Paths
from ingest.intake import ingest_file
from ingest.report import previous_release
from tests.conftest import held_elsewhere, run_reform

pytestmark = pytest.mark.slow

FORM = (
    "单位代码,报告期,指标代码,数值\n"
    "530700-ZGH,2025年第一季度,vocational_training_person_times,120\n"
    "530700-ZGH,2025年第一季度,migrant_worker_legal_service_events,4\n"
)


def observations(path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select count(*) from marts.fct_indicator_observation").fetchall()[0][0]


def inject_raw_row(paths: Paths, name: str, **overrides) -> None:
    """Put a row into the lake that ingest would never write, as a corrupted or hand-edited file would."""
    row = {
        "file_sha256": name * 8,
        "file_name": f"{name}.csv",
        "sheet": "csv",
        "row_number": 2,
        "reporting_unit_code": "530700-ZGH",
        "region_code": "530700",
        "period_id": "2025-Q2",
        "indicator_code": "vocational_training_person_times",
        "value": 1.0,
        "unit": "人次",
        "obs_status": "normal",
        "note": None,
        "raw_value": "1",
        "received_at": datetime(2025, 7, 1),
    }
    row.update(overrides)
    record = {
        "file_sha256": row["file_sha256"],
        "file_name": row["file_name"],
        "source": "submissions",
        "file_format": "csv",
        "size_bytes": 1,
        "reporting_unit_code": "530700-ZGH",
        "period_id": row["period_id"],
        "received_at": row["received_at"],
        "status": "loaded",
        "rows_received": 1,
        "rows_accepted": 1,
        "rows_quarantined": 0,
        "rows_skipped": 0,
        "error_reason": None,
        "error": None,
        "archive_path": None,
    }
    lake.write_file_outputs(paths.lake, row["file_sha256"], "submissions", [row], [], record)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A home with one published build of a small form."""
    home = tmp_path_factory.mktemp("home")
    paths = Paths.from_env(home).ensure()
    (home / "form.csv").write_text(FORM, encoding="utf-8")
    ingest_file(home / "form.csv", paths)
    report = warehouse.build(paths, run_id="r1-good")
    return paths, report


def test_a_clean_build_is_published_and_kept_as_a_release(published):
    paths, report = published
    assert report.published_path == paths.published
    assert observations(paths.published) == 2
    assert warehouse.list_releases(paths) == ["r1-good"]
    assert warehouse.current_release(paths) == "r1-good"
    assert not (paths.builds / "r1-good").exists()
    assert report.validations and all(v["success"] for v in report.validations)
    # the published file is the release (one inode) and read-only: a connection opened for writing by
    # mistake cannot change a kept release
    release = paths.releases / "r1-good" / "reform.duckdb"
    assert paths.published.stat().st_ino == release.stat().st_ino
    assert stat.S_IMODE(release.stat().st_mode) == 0o444


def test_a_warning_is_recorded_and_does_not_block(published):
    paths, _ = published
    # a rate of 150 %, for a quarter of an annual indicator (its numerator is annual too): two warnings
    inject_raw_row(paths, "a", indicator_code="nonpublic_party_org_coverage_rate", unit="%", value=150.0)
    report = warehouse.build(paths, run_id="r2-warning")
    assert warehouse.current_release(paths) == "r2-warning"
    periodicity = "a value's period is one its indicator is reported for (others do not count towards the year)"
    assert sorted(v["description"] for v in report.warnings) == [periodicity, "rates lie within 0–100 %"]
    assert [v["unexpected_count"] for v in report.warnings] == [1, 1]
    with duckdb.connect(str(paths.published), read_only=True) as con:
        failed = con.execute(
            "select severity, suite from audit.validation_results where run_id = 'r2-warning' and not success"
        ).fetchall()
    assert failed == [("warning", "fct_indicator_observation")] * 2
    with duckdb.connect(str(paths.published), read_only=True) as con:
        rows = con.execute(
            "select reporting_unit_code, indicator_code, value from audit.validation_failures "
            "where run_id = 'r2-warning'"
        ).fetchall()
        quality = con.execute(
            "select rows_with_warnings, failed_rules from audit.unit_data_quality "
            "where reporting_unit_code = '530700-ZGH'"
        ).fetchall()
    assert rows == [("530700-ZGH", "nonpublic_party_org_coverage_rate", 150.0)] * 2
    assert quality == [(2, f"{periodicity}; rates lie within 0–100 %")]  # the rules in order, every time
    report = run_reform("quality", "--unit", "530700-ZGH", home=paths.home)
    assert "nonpublic_party_org_coverage_rate = 150.0: rates lie within 0–100 %" in report.stdout


def test_a_critical_failure_blocks_publish_and_keeps_the_old_warehouse_readable(published):
    paths, _ = published
    before_inode = paths.published.stat().st_ino
    before_rows = observations(paths.published)
    reader = duckdb.connect(str(paths.published), read_only=True)  # an analyst holding a connection
    inject_raw_row(paths, "b", value=None, obs_status="normal", raw_value="")  # observed but no value
    with pytest.raises(warehouse.PublishBlocked) as blocked:
        warehouse.build(paths, run_id="r3-bad")
    assert "NOT published" in str(blocked.value)
    assert "value is present" in str(blocked.value.failures[0]["description"])
    assert paths.published.stat().st_ino == before_inode
    assert warehouse.current_release(paths) == "r2-warning"
    assert reader.execute("select count(*) from marts.fct_indicator_observation").fetchall()[0][0] == before_rows
    reader.close()
    # the refused build stays for inspection, with its results
    with duckdb.connect(str(paths.builds / "r3-bad" / "reform.duckdb"), read_only=True) as con:
        assert (
            con.execute(
                "select count(*) from audit.validation_results "
                "where run_id = 'r3-bad' and not success and severity = 'critical'"
            ).fetchall()[0][0]
            == 1
        )
    (paths.lake / "raw" / "submissions" / f"{'b' * 8}.parquet").unlink()
    (paths.lake / "audit" / "ingest_files" / f"{'b' * 8}.parquet").unlink()


def test_rollback_publishes_the_previous_release(published):
    paths, _ = published
    assert warehouse.rollback(paths) == "r1-good"
    assert warehouse.current_release(paths) == "r1-good"
    assert observations(paths.published) == 2
    # a second rollback goes further back (there is none), never forward to the release just left
    with pytest.raises(FileNotFoundError, match="no release in effect before r1-good"):
        warehouse.rollback(paths)
    assert warehouse.current_release(paths) == "r1-good"
    assert warehouse.rollback(paths, "r2-warning") == "r2-warning"
    for wrong in ("no-such-release", "..", "../builds/r1-good", "r1-good/../r1-good"):
        with pytest.raises(FileNotFoundError, match="no release"):
            warehouse.rollback(paths, wrong)
    assert warehouse.current_release(paths) == "r2-warning"
    assert not list(paths.warehouse_dir.glob(".exports-new-*")), "nothing exported for a wrong name"


def test_a_second_process_reads_the_published_warehouse(published):
    paths, _ = published
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(con.execute('select count(*) from marts.dim_region').fetchall()[0][0])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(paths.published)], capture_output=True, text=True, check=True)
    assert int(out.stdout.split()[0]) > 50


def test_a_dbt_failure_is_a_build_error(published, monkeypatch):
    paths, _ = published
    monkeypatch.setattr(warehouse, "DBT_PROJECT_DIR", paths.home / "no-such-project")
    with pytest.raises(warehouse.BuildError) as failed:
        warehouse.build(paths, run_id="r4-broken")
    assert "published warehouse is unchanged" in str(failed.value)
    assert warehouse.current_release(paths) == "r2-warning"


def _ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # ended; not reaped yet by whoever adopted it


@pytest.mark.parametrize("how", ["command line", "one executable"])
def test_dbt_ends_when_the_process_that_started_it_is_killed(tmp_path, how):
    """Found by an Airflow kill campaign: cosmos starts dbt in a session of its own, so a killed dbt task
    left dbt writing the abandoned build file (up to a whole build at province scale); a killed `reform
    build` left it too. dbt is now started tied to its parent (``setpriv --pdeathsig``): here a stand-in
    for dbt, started in its own session as cosmos does, ends when its parent is SIGKILLed."""
    import signal
    import time

    from ingest import dbt_run

    assert shutil.which("setpriv"), "util-linux's setpriv, in every Debian image, ties dbt to its parent"
    stand_in = tmp_path / "dbt"
    stand_in.write_text('#!/bin/sh\necho $$ > "$1"\nexec sleep 120\n', encoding="utf-8")
    stand_in.chmod(0o755)
    pid_file = tmp_path / "dbt.pid"
    if how == "command line":  # reform build, the backfill's dbt_build task
        command = [*dbt_run.tied_to_parent([str(stand_in)]), str(pid_file)]
    else:  # cosmos's dbt_executable_path
        command = [dbt_run.tied_executable(str(stand_in), tmp_path / "cosmos"), str(pid_file)]
    starter = f"import subprocess; subprocess.run({command!r}, start_new_session=True)"
    parent = subprocess.Popen([sys.executable, "-c", starter])
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the stand-in never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while not _ended(child):
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            pytest.fail("dbt outlived the process that started it")
        time.sleep(0.05)


def test_dbt_without_its_manifest_writes_the_run_results_and_fails_as_dbt_does(published, monkeypatch, tmp_path):
    """``run_dbt(manifest=False)`` (``ingest/dbt_run.py``, what an incremental build runs): the nodes'
    results are read as from the dbt CLI, no manifest.json is written, and a failure is a BuildError."""
    paths, _ = published
    build = tmp_path / "build" / "reform.duckdb"
    build.parent.mkdir()
    shutil.copyfile(paths.published, build)
    assert warehouse.run_dbt(build, ["test", "--select", "dim_region"], manifest=False) > 1
    target = build.parent / "target"
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert {r["status"] for r in results} == {"pass"} and not (target / "manifest.json").exists()

    monkeypatch.setattr(warehouse, "DBT_PROJECT_DIR", paths.home / "no-such-project")
    with pytest.raises(warehouse.BuildError, match="dbt build failed; the published warehouse is unchanged"):
        warehouse.run_dbt(build, ["build"], manifest=False)
    done = subprocess.run([sys.executable, "-m", "ingest.dbt_run", "build"], capture_output=True, text=True)
    assert done.returncode == 2 and "give --target-path" in done.stderr


def test_docs_and_parquet_exports_are_published_beside_the_warehouse(published):
    paths, _ = published
    docs = paths.warehouse_dir / "docs" / "dbt" / "index.html"
    assert docs.exists() and "fct_indicator_observation" in docs.read_text(encoding="utf-8")
    exports = paths.warehouse_dir / "exports"
    digest = "select count(*), sum(hash(t)), count(distinct period_id) from {} t"
    with duckdb.connect(str(paths.published), read_only=True) as con:
        published = con.execute(digest.format("marts.fct_indicator_observation")).fetchall()
        columns = [c for (c, *_) in con.execute("describe marts.fct_indicator_observation").fetchall()]
        dims = con.execute(digest.replace("period_id", "region_code").format("marts.dim_region")).fetchall()
    # the largest marts: one folder per period, the period also a column of every file
    folder = exports / "fct_indicator_observation"
    files = f"read_parquet('{folder}/*/*.parquet', hive_partitioning = false)"
    assert duckdb.sql(digest.format(files)).fetchall() == published
    assert [c for (c, *_) in duckdb.sql(f"describe select * from {files}").fetchall()] == columns
    manifest = json.loads((folder / warehouse.PARTITION_MANIFEST).read_text(encoding="utf-8"))
    assert len(manifest["partitions"]) == published[0][2]
    assert sum(p["rows"] for p in manifest["partitions"].values()) == published[0][0]
    single = exports / "dim_region.parquet"
    assert duckdb.sql(digest.replace("period_id", "region_code").format(f"'{single}'")).fetchall() == dims


def _observations_of_three_periods(build: Path, *statements: str) -> None:
    """A build file whose observation mart has 30 rows over three periods (and what ``statements`` add)."""
    with contextlib.closing(duckdb.connect(str(build))) as con:
        con.execute("create schema marts; create schema raw; create schema audit")
        con.execute(
            "create table marts.fct_indicator_observation as select i as observation_id, "
            "['2024-M01', '2024-M02', '2024-M03'][i % 3 + 1] as period_id, i * 1.5 as value from range(30) r(i)"
        )
        for statement in statements:
            con.execute(statement)


def _inode(root: Path, period: str) -> int:
    return (root / "fct_indicator_observation" / f"period_id={period}" / "data_0.parquet").stat().st_ino


def test_a_partitioned_export_links_the_partitions_whose_rows_are_unchanged(tmp_path):
    """An export compares each period's row count and digest with the published export's: equal
    periods are hard-linked from it, the others written; removed periods are gone."""
    build = tmp_path / "reform.duckdb"
    _observations_of_three_periods(build)
    first = warehouse.export_marts(build, tmp_path / "first")
    with contextlib.closing(duckdb.connect(str(build))) as con:  # tonight: one period changed, one gone
        con.execute("update marts.fct_indicator_observation set value = -1 where observation_id = 4")
        con.execute("delete from marts.fct_indicator_observation where period_id = '2024-M03'")
    second = warehouse.export_marts(build, tmp_path / "second", published=first)

    assert _inode(second, "2024-M01") == _inode(first, "2024-M01"), "unchanged: linked"
    assert _inode(second, "2024-M02") != _inode(first, "2024-M02"), "a changed row: written"
    assert not (second / "fct_indicator_observation" / "period_id=2024-M03").exists()
    rows = duckdb.sql(
        f"select observation_id, value from read_parquet('{second}/fct_indicator_observation/*/*.parquet') order by 1"
    ).fetchall()
    assert rows == [(i, -1.0 if i == 4 else i * 1.5) for i in range(30) if i % 3 != 2]
    manifest = json.loads((second / "fct_indicator_observation" / warehouse.PARTITION_MANIFEST).read_text())
    assert sorted(manifest["partitions"]) == ["2024-M01", "2024-M02"]


def test_an_incremental_export_digests_only_the_partitions_tonight_can_change(tmp_path):
    """In an incremental build the observations differ from the release only in the periods of
    tonight's files (PARTITIONS_TONIGHT): the other periods are linked without a digest; a full
    build's export compares every period."""
    build = tmp_path / "reform.duckdb"
    _observations_of_three_periods(
        build,
        "create table raw.submissions as select 'tonight' as file_sha256, '2024-M02' as period_id",
        "create table audit.build_added_files as select 'tonight' as file_sha256",
    )
    first = warehouse.export_marts(build, tmp_path / "first")
    manifest = first / "fct_indicator_observation" / warehouse.PARTITION_MANIFEST
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    entries["partitions"]["2024-M01"]["digest"] = "0"  # only a digest of 2024-M01 could notice this
    manifest.write_text(json.dumps(entries), encoding="utf-8")
    with contextlib.closing(duckdb.connect(str(build))) as con:  # tonight's file changed a row of 2024-M02
        con.execute("update marts.fct_indicator_observation set value = -1 where observation_id = 4")

    night = warehouse.export_marts(build, tmp_path / "night", published=first, incremental=True)
    assert _inode(night, "2024-M01") == _inode(first, "2024-M01"), "not tonight's: linked, no digest"
    assert _inode(night, "2024-M03") == _inode(first, "2024-M03")
    assert _inode(night, "2024-M02") != _inode(first, "2024-M02"), "tonight's period: compared, written"
    rows = duckdb.sql(
        f"select observation_id, value from read_parquet('{night}/fct_indicator_observation/*/*.parquet') order by 1"
    ).fetchall()
    assert rows == [(i, -1.0 if i == 4 else i * 1.5) for i in range(30)]
    full = warehouse.export_marts(build, tmp_path / "full", published=first)
    assert _inode(full, "2024-M01") != _inode(first, "2024-M01"), "a full build's export digests every period"
    assert _inode(full, "2024-M03") == _inode(first, "2024-M03")


def test_the_as_of_date_is_fixed_once_per_build(tmp_path, monkeypatch):
    monkeypatch.delenv("REFORM_AS_OF_DATE", raising=False)
    run_dir = tmp_path / "run"
    assert warehouse.build_as_of_date(run_dir, today=date(2026, 12, 3)) == "2026-12-03"
    # later steps of the same build, after midnight or in another process, read the date it was given
    assert warehouse.build_as_of_date(run_dir, today=date(2026, 12, 4)) == "2026-12-03"
    monkeypatch.setenv("REFORM_AS_OF_DATE", "2025-06-30")
    assert warehouse.build_as_of_date(run_dir) == "2026-12-03"
    assert warehouse.build_as_of_date(tmp_path / "backfill") == "2025-06-30", "env fixes a new build's date"
    assert warehouse.build_as_of_date(run_dir, {"as_of_date": "2025-01-31"}) == "2025-01-31", "var as_of_date wins"
    assert sorted(p.name for p in run_dir.iterdir()) == ["as_of_date"], "no temporary file is left"
    monkeypatch.setenv("REFORM_AS_OF_DATE", "30/06/2025")
    with pytest.raises(ValueError, match="30/06/2025"):
        warehouse.build_as_of_date(tmp_path / "bad")


def test_every_model_of_a_build_is_judged_at_the_date_fixed_when_it_was_prepared(published, monkeypatch):
    """A build prepared before midnight and modelled after it: completeness and target progress agree."""
    paths, _ = published
    monkeypatch.delenv("REFORM_AS_OF_DATE", raising=False)
    build, _ = warehouse.prepare(paths, "r5-as-of")
    (build.parent / warehouse.AS_OF_FILE).write_text("2025-12-31", encoding="utf-8")  # as if prepared that day
    warehouse.build_models(build)
    log = (build.parent / "dbt.log").read_text(encoding="utf-8")
    assert " START test " in log and " START unit_test " not in log, "data tests, not unit tests (CI runs those)"
    with duckdb.connect(str(build), read_only=True) as con:
        dates = con.execute(
            "select distinct as_of_date from marts.fct_reporting_completeness "
            "union select distinct as_of_date from marts.fct_target_progress"
        ).fetchall()
        [(due_after,)] = con.execute(
            "select count(*) from marts.fct_reporting_completeness where is_due and due_date >= date '2025-12-31'"
        ).fetchall()
    assert dates == [(date(2025, 12, 31),)]
    assert due_after == 0, "nothing due on or after the build's as-of date counts as expected"

    # Data Docs: this run's pages are added and the index lists every run; earlier pages are not redone
    site = paths.warehouse_dir / "docs" / "gx"
    earlier = {p: p.stat().st_mtime_ns for p in (site / "validations").rglob("*.html")}
    assert {p.relative_to(site / "validations").parts[1] for p in earlier} >= {"r1-good"}
    warehouse.validate(paths, "r5-as-of", build)
    pages = {p: p.stat().st_mtime_ns for p in (site / "validations").rglob("*.html")}
    assert {p for p in pages if "r5-as-of" in p.parts} and all(pages[p] == t for p, t in earlier.items())
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "r5-as-of" in index and "r1-good" in index


def test_the_release_just_published_is_kept_whatever_its_name(published):
    """Releases are ordered by when they were published, not by name: a run id given by hand
    (``reform build --run-id``) that sorts before the others is still the newest, pruning keeps it,
    and the next incremental build, a rollback and the changed-reports check find it."""
    paths, _ = published
    for i in range(1, 6):  # five releases published long ago, named to sort after every other
        folder = paths.releases / f"zz-old-{i}"
        folder.mkdir()
        (folder / warehouse.WAREHOUSE_FILE_NAME).write_bytes(b"")
        os.utime(folder, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i))
    assert warehouse.current_release(paths) == "r2-warning"

    warehouse.build(paths, run_id="0-named-by-hand")  # publishes, keeping the five last published

    assert warehouse.current_release(paths) == "0-named-by-hand"
    assert warehouse.list_releases(paths) == ["0-named-by-hand", "r2-warning", "r1-good", "zz-old-5", "zz-old-4"]
    assert previous_release(paths) == "r2-warning"
    with duckdb.connect(str(paths.published), read_only=True) as con:  # what status, summary and reports read
        [(latest,)] = con.execute(f"select {lake.LATEST_VALIDATION_RUN}").fetchall()
        [(by_name,)] = con.execute("select max(run_id) from audit.validation_results").fetchall()
    assert latest == "0-named-by-hand" != by_name, "the warehouse's own validation is the one validated last"
    assert warehouse.rollback(paths) == "r2-warning"


def test_the_validation_history_reads_only_the_runs_a_build_lacks(tmp_path):
    """``load_history``: a build copied from a release appends the runs the release lacks and replaces
    its own run's rows (a validation run again); it does not read the history again. A table whose
    columns are not the schema's is made anew from every file."""
    folder, schema, table = tmp_path / "failures", lake.VALIDATION_FAILURES_SCHEMA, "audit.validation_failures"

    def run_file(run_id: str, rows: int) -> None:
        lake.write_records(folder / f"{run_id}.parquet", [{"run_id": run_id, "value": i} for i in range(rows)], schema)

    def held(con) -> dict[str, int]:
        return dict(con.execute(f"select run_id, count(*) from {table} group by all order by all").fetchall())

    run_file("r1", 2)
    run_file("r2", 1)
    with contextlib.closing(duckdb.connect(str(tmp_path / "build.duckdb"))) as con:
        con.execute("create schema audit")
        warehouse.load_history(con, table, folder, schema, "r2")  # a full build: every file
        assert held(con) == {"r1": 2, "r2": 1}

        run_file("r1", 5)  # a file the table already holds is not read again
        run_file("r3", 2)  # a run the build lacks (e.g. a blocked build's) is appended
        run_file("r4", 3)  # tonight's run
        warehouse.load_history(con, table, folder, schema, "r4")
        assert held(con) == {"r1": 2, "r2": 1, "r3": 2, "r4": 3}
        run_file("r4", 1)  # validated again: tonight's rows replaced, not doubled
        warehouse.load_history(con, table, folder, schema, "r4")
        assert held(con) == {"r1": 2, "r2": 1, "r3": 2, "r4": 1}

        con.execute(f"alter table {table} drop column row_values")  # a table of an older schema
        warehouse.load_history(con, table, folder, schema, "r4")
        assert held(con) == {"r1": 5, "r2": 1, "r3": 2, "r4": 1}
        assert [c for (c,) in con.execute(f"select column_name from (describe {table})").fetchall()] == schema.names

        run_file("r3", 7)  # only the runs given are kept: the others' rows go, and a kept run is not read again
        warehouse.load_history(con, table, folder, schema, "r4", runs={"r3", "r4"})
        assert held(con) == {"r3": 2, "r4": 1}
        con.execute(f"alter table {table} drop column row_values")
        warehouse.load_history(con, table, folder, schema, "r4", runs={"r1", "r4"})  # made anew: those runs' files
        assert held(con) == {"r1": 5, "r4": 1}


def test_the_warehouse_keeps_the_failing_rows_of_the_runs_validated_last(published, monkeypatch):
    """``audit.validation_failures`` holds the failing rows of the last KEEP_FAILING_ROWS_RUNS runs (the
    latest is what status, reports and the unit view read); the results of every run stay beside them,
    and every run's failing rows stay in the lake."""
    paths, _ = published
    monkeypatch.setattr(warehouse, "KEEP_FAILING_ROWS_RUNS", 2)
    build = warehouse.build_path_for(paths, "r7-kept")
    build.parent.mkdir(parents=True)
    shutil.copyfile(paths.published, build)  # a full validation of the published warehouse's copy

    warehouse.validate(paths, "r7-kept", build)

    lake_failures = paths.lake / "audit" / "validation_failures"
    with duckdb.connect(str(build), read_only=True) as con:
        validated = [
            r
            for (r,) in con.execute(
                "select run_id from audit.validation_results group by all order by max(validated_at) desc"
            ).fetchall()
        ]
        held = {r for (r,) in con.execute("select distinct run_id from audit.validation_failures").fetchall()}
        [(warnings,)] = con.execute(
            "select count(*) from audit.validation_failures where run_id = 'r7-kept'"
        ).fetchall()
    assert validated[0] == "r7-kept" and {"r1-good", "r2-warning"} <= set(validated), "every run's results"
    assert warnings > 0, "the warning injected for r2-warning still fails"
    assert held <= set(validated[:2]) and "r7-kept" in held
    assert "r2-warning" not in held and (lake_failures / "r2-warning.parquet").exists()


def test_a_build_holds_only_the_runs_validated_up_to_its_own(published, monkeypatch):
    """Found by a concurrency campaign's verification: of two builds at once, the one validated first
    loaded every run's results from the lake, the other's too (validated a moment later, then refused
    or published over). The published file's "latest validation run", which status, the summary, the
    report and ``audit.unit_data_quality`` read, was then the other build's. A build now holds the runs
    validated up to its own; the next build holds the other one's as history."""
    paths, _ = published
    builds = {}
    for run in ("r8-first", "r8-beside", "r8-next"):
        builds[run] = warehouse.build_path_for(paths, run)
        builds[run].parent.mkdir(parents=True)
        shutil.copyfile(paths.published, builds[run])
    real_write = lake.write_validation_results

    def the_other_build_validates_meanwhile(lake_dir, run_id, *args, **kwargs):
        real_write(lake_dir, run_id, *args, **kwargs)
        if run_id == "r8-first":  # its results written, its history not loaded yet
            warehouse.validate(paths, "r8-beside", builds["r8-beside"])

    monkeypatch.setattr(lake, "write_validation_results", the_other_build_validates_meanwhile)
    warehouse.validate(paths, "r8-first", builds["r8-first"])
    monkeypatch.undo()
    warehouse.validate(paths, "r8-next", builds["r8-next"])

    def runs(build: Path, table: str) -> set[str]:
        with duckdb.connect(str(build), read_only=True) as con:
            return {r for (r,) in con.execute(f"select distinct run_id from {table}").fetchall()}

    def latest(build: Path) -> str:
        with duckdb.connect(str(build), read_only=True) as con:
            return con.execute(f"select {lake.LATEST_VALIDATION_RUN}").fetchone()[0]

    assert latest(builds["r8-first"]) == "r8-first"
    assert "r8-beside" not in runs(builds["r8-first"], "audit.validation_results")
    assert "r8-beside" not in runs(builds["r8-first"], "audit.validation_failures")
    assert "r1-good" in runs(builds["r8-first"], "audit.validation_results")  # the history before it
    assert latest(builds["r8-beside"]) == "r8-beside"
    assert "r8-first" in runs(builds["r8-beside"], "audit.validation_results")  # validated before it
    assert latest(builds["r8-next"]) == "r8-next"
    assert {"r8-first", "r8-beside"} <= runs(builds["r8-next"], "audit.validation_results")


def test_a_run_id_given_by_hand_must_be_a_new_plain_folder_name(tmp_path):
    paths = Paths.from_env(tmp_path / "home").ensure()
    assert warehouse.given_run_id(paths, "2026-q1.rerun_2") == "2026-q1.rerun_2"
    assert warehouse.given_run_id(paths, None)  # none given: a new timestamped one
    for bad in ("../x", "a/b", "..", ".hidden", "-x", "x" * 101, ""):
        with pytest.raises(warehouse.RunIdError, match="is not allowed"):
            warehouse.given_run_id(paths, bad)
    for made, what in (
        (paths.releases / "r1", "a release"),
        (paths.builds / "r2", "a build (running, or failed: a failed one leaves its folder)"),
        (paths.lake / "audit" / "validation" / "r3.parquet", "a validation run"),
    ):
        made.parent.mkdir(parents=True, exist_ok=True)
        made.mkdir() if made.suffix != ".parquet" else made.touch()
        said = f"already used by {re.escape(what)} \\({re.escape(str(made))}\\)"
        with pytest.raises(warehouse.RunIdError, match=said):
            warehouse.given_run_id(paths, made.stem)


def test_a_retried_prepare_of_an_airflow_run_starts_its_own_build_over(tmp_path, monkeypatch, caplog):
    """Found by an Airflow kill campaign: each try of ``prepare`` drew a new build id, so a try killed
    midway left its build folder (GBs at province scale) beside the next try's. An Airflow run's build id
    is now the same on every try of the run, and another once the run is cleared."""
    from datetime import UTC

    from ingest import tasks

    paths = Paths.from_env(tmp_path / "home").ensure()
    monkeypatch.setenv("REFORM_HOME", str(paths.home))
    (paths.home / "form.csv").write_text(FORM, encoding="utf-8")
    ingest_file(paths.home / "form.csv", paths)
    after = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    build_id = warehouse.airflow_build_id("reform_nightly", "scheduled__2026-12-07T18:00:00+00:00", 0, after)
    assert re.fullmatch(r"20261207T180000-[0-9a-f]{6}", build_id)
    assert build_id == warehouse.airflow_build_id("reform_nightly", "scheduled__2026-12-07T18:00:00+00:00", 0, after)
    cleared = warehouse.airflow_build_id("reform_nightly", "scheduled__2026-12-07T18:00:00+00:00", 1, after)
    other_dag = warehouse.airflow_build_id("reform_backfill", "scheduled__2026-12-07T18:00:00+00:00", 0, after)
    assert len({build_id, cleared, other_dag}) == 3

    first = tasks.prepare_build(build_id)
    with caplog.at_level("WARNING"):
        again = tasks.prepare_build(build_id)  # the task's retry
    assert again["build_path"] == first["build_path"] and again["raw_counts"] == first["raw_counts"]
    assert f"build {build_id}: an earlier try left its files; starting over" in caplog.text
    assert [folder.name for folder in paths.builds.iterdir()] == [build_id]
    warehouse.publish(paths, build_id)
    with pytest.raises(warehouse.RunIdError, match="published already; clear the run"):
        tasks.prepare_build(build_id)


def test_a_retried_prepare_is_refused_while_the_earlier_try_still_runs(tmp_path, monkeypatch):
    """A try of ``prepare`` whose process outlived its task (a lost heartbeat) beside its retry, which has
    the same build id: the retry used to empty the folder under it and build there too. It is refused
    now, the earlier try's files untouched; once that process is gone, the next retry starts over."""
    from ingest import tasks

    paths = Paths.from_env(tmp_path / "home").ensure()
    monkeypatch.setenv("REFORM_HOME", str(paths.home))
    (paths.home / "form.csv").write_text(FORM, encoding="utf-8")
    ingest_file(paths.home / "form.csv", paths)
    first = tasks.prepare_build("nightly-1")
    build = Path(first["build_path"])
    left = build.parent / "written-by-the-earlier-try"
    left.write_text("x", encoding="utf-8")
    with held_elsewhere(build.parent / warehouse.WORKING_LOCK):
        with pytest.raises(warehouse.BuildRunning, match=r"build nightly-1: an earlier try is still working on it"):
            tasks.prepare_build("nightly-1")
        assert left.exists() and build.exists()
    again = tasks.prepare_build("nightly-1")
    assert again["raw_counts"] == first["raw_counts"]
    assert not left.exists() and build.exists()


def test_old_folders_of_builds_that_never_published_are_removed_beyond_the_last_kept(tmp_path, monkeypatch):
    """A failed, refused or killed build leaves its folder for inspection (GBs at province scale): a
    build removes those not written for a day beyond the last two (env REFORM_KEEP_FAILED_BUILDS), and
    killed checks' scratch; never a running build's folder, however many there are."""
    import time

    from ingest import intake, status

    paths = Paths.from_env(tmp_path / "home").ensure()
    now = time.time()
    ages_in_days = {
        "failed-1": 9,
        "failed-2": 5,
        "failed-3": 3,
        "failed-4": 2,
        "landed-r5": 4,
        "running": 0,
        "queued": 0,
    }
    for name, days in ages_in_days.items():
        folder = paths.builds / name
        (folder / "target").mkdir(parents=True)
        for file in (folder / "reform.duckdb", folder / "target" / "manifest.json"):
            file.write_bytes(b"x" * 1000)
            os.utime(file, (now - days * 86400 - 60, now - days * 86400 - 60))
        for written in (folder / "target", folder):  # a folder changes when a file is added to it
            os.utime(written, (now - days * 86400 - 60, now - days * 86400 - 60))
    os.utime(paths.builds / "queued" / "reform.duckdb", (now - 3 * 86400, now - 3 * 86400))  # its dbt step wrote later

    said: list[str] = []
    status.print_status(paths, said.append)
    assert any("build folders that never published" in line and ": 6, " in line for line in said), said
    intake.finish_interrupted_writes(paths)  # what every build does before it reads the lake
    assert sorted(p.name for p in paths.builds.iterdir()) == ["failed-3", "failed-4", "queued", "running"]

    monkeypatch.setenv(warehouse.KEEP_FAILED_BUILDS_ENV, "0")
    removed = warehouse.prune_failed_builds(paths)
    assert [left.path.name for left in removed] == ["failed-4", "failed-3"]
    assert sorted(p.name for p in paths.builds.iterdir()) == ["queued", "running"]
    assert all(left.size_bytes == 2000 for left in removed)

    monkeypatch.setenv(warehouse.KEEP_FAILED_BUILDS_ENV, "two")
    with pytest.raises(warehouse.BuildError, match="REFORM_KEEP_FAILED_BUILDS='two': how many old build folders"):
        warehouse.prune_failed_builds(paths)


def _claim(home: str, run_id: str, start, results) -> None:
    paths = Paths.from_env(Path(home))
    start.wait()
    try:
        results.put(warehouse.given_run_id(paths, run_id))
    except warehouse.RunIdError as error:
        results.put(str(error))


def test_two_runs_given_the_same_id_at_once_cannot_both_take_it(tmp_path):
    """Six processes ask for one run id at the same moment: one gets it, the others are told it is
    taken (before, each checked that nothing used it and all six went on to build into one folder)."""
    import multiprocessing

    paths = Paths.from_env(tmp_path / "home").ensure()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(6), context.Queue()
    runs = [context.Process(target=_claim, args=(str(paths.home), "nightly-rerun", start, results)) for _ in range(6)]
    for run in runs:
        run.start()
    answers = [results.get(timeout=60) for _ in runs]
    for run in runs:
        run.join(timeout=60)
    assert answers.count("nightly-rerun") == 1, answers
    assert all("choose another one" in answer for answer in answers if answer != "nightly-rerun")
    assert (paths.builds / "nightly-rerun").is_dir()
    assert warehouse.given_run_id(paths, None) != warehouse.given_run_id(paths, None)


def test_a_build_overtaken_by_a_later_one_is_not_published_over_it(published):
    """Builds of different DAGs can overlap (a nightly started before a backfill that finishes first):
    the one that read the lake first must not replace the one that read it later, which holds all it
    holds and more."""
    paths, _ = published
    older, _ = warehouse.prepare(paths, "overlap-older")  # reads the lake first
    warehouse.build(paths, run_id="overlap-newer")  # reads it later, and publishes first
    warehouse.build_models(older)
    with pytest.raises(warehouse.BuildError, match="NOT published: the published release overlap-newer read"):
        warehouse.publish(paths, "overlap-older")
    assert warehouse.current_release(paths) == "overlap-newer"
    assert "overlap-older" not in warehouse.list_releases(paths)


def test_a_rollback_after_a_newer_publish_returns_to_the_release_rolled_back_to(published):
    """The releases in effect are a stack: publishing A, B, rolling back (to A), then publishing C, a
    rollback returns to A, the release in effect before C, never to B, the one rolled back from."""
    paths, _ = published
    before = warehouse.current_release(paths)
    publish_a_copy(paths, "h-a")
    publish_a_copy(paths, "h-b")
    assert warehouse.rollback(paths) == "h-a"
    publish_a_copy(paths, "h-c")
    assert warehouse.rollback(paths) == "h-a"
    assert warehouse.rollback(paths) == before
    assert warehouse.current_release(paths) == before


def publish_a_copy(paths: Paths, run_id: str, keep: int = warehouse.KEEP_RELEASES) -> None:
    """Publish a copy of the published warehouse as the build ``run_id`` (no dbt: seconds)."""
    build = warehouse.build_path_for(paths, run_id)
    build.parent.mkdir(parents=True)
    shutil.copyfile(paths.published, build)
    warehouse.publish(paths, run_id, keep=keep)


def test_the_release_a_rollback_returns_to_is_never_pruned_and_a_pruned_one_is_refused(published):
    """Found by an equivalence campaign: after rolling back to an old release and publishing again, the
    pruning deleted the release in effect before the new one, and a rollback then re-published the
    release the operator had rolled back from."""
    paths, _ = published
    before = warehouse.current_release(paths)
    publish_a_copy(paths, "p-a", keep=100)
    publish_a_copy(paths, "p-b", keep=100)
    assert [warehouse.rollback(paths), warehouse.rollback(paths)] == ["p-a", before]
    publish_a_copy(paths, "p-c", keep=2)  # the two published last are p-c and p-b; `before` is older
    assert before in warehouse.list_releases(paths) and "p-a" not in warehouse.list_releases(paths)
    assert warehouse.rollback(paths) == before  # not p-b, the release rolled back from

    # a release pruned by an older version (or by hand) is refused, never replaced by another one
    publish_a_copy(paths, "p-d")
    shutil.rmtree(paths.releases / before)
    with pytest.raises(FileNotFoundError, match=f"the release in effect before p-d was {before}, which is no longer"):
        warehouse.rollback(paths)
    assert warehouse.current_release(paths) == "p-d"


def test_reform_releases_does_not_wait_for_a_publish_running_now(published, monkeypatch, capsys):
    """Found by the verification of the publish lock: `reform releases` took the lock to finish an
    interrupted publication, so it waited for a running publish's exports (minutes at province scale).
    It now lists at once and says a publish is running; a killed one (its lock free) it still finishes."""
    import threading

    from ingest import cli

    paths, _ = published
    monkeypatch.setenv("REFORM_HOME", str(paths.home))
    real_install = warehouse._install_beside
    swapped, go_on = threading.Event(), threading.Event()

    def exports_taking_long(*args, **kwargs):  # the swap is done; the exports are being installed
        swapped.set()
        assert go_on.wait(60)
        return real_install(*args, **kwargs)

    monkeypatch.setattr(warehouse, "_install_beside", exports_taking_long)
    publishing = threading.Thread(target=publish_a_copy, args=(paths, "p-long-exports"))
    publishing.start()
    try:
        assert swapped.wait(60)
        listed: list[int] = []
        listing = threading.Thread(target=lambda: listed.append(cli.main(["releases"])))
        listing.start()
        listing.join(10)
        assert listed == [0], "reform releases answers while the publish runs"
    finally:
        go_on.set()
        publishing.join(60)
    said = capsys.readouterr().out
    assert "a publish or rollback is running now" in said
    assert "* p-long-exports" in said  # swapped already: the release in effect
    assert not (paths.warehouse_dir / warehouse.PUBLICATION_FILE).exists()  # the publish finished itself


@pytest.mark.parametrize("step", ["after the swap", "before the swap"])
def test_a_publish_killed_midway_is_finished_or_undone_by_the_next_one(published, monkeypatch, step):
    """Found by a crash campaign (SIGKILL): the warehouse file is swapped atomically, but its history,
    docs and exports after it; killed in between, the exports stayed the previous release's and the
    next rollback went to the wrong release, or a release never published was listed."""
    paths, _ = published
    previous = warehouse.current_release(paths)
    run_id = f"killed-{step.split()[0]}"

    def killed(*args, **kwargs):
        raise SystemExit("killed")

    if step == "after the swap":
        monkeypatch.setattr(warehouse, "_install_beside", killed)
    else:
        real = os.replace
        monkeypatch.setattr(os, "replace", lambda a, b: killed() if Path(b) == paths.published else real(a, b))
    with pytest.raises(SystemExit):
        publish_a_copy(paths, run_id)
    monkeypatch.undo()
    assert (paths.warehouse_dir / warehouse.PUBLICATION_FILE).exists()
    assert warehouse.exports_release(paths.warehouse_dir / "exports") == previous

    assert warehouse.finish_interrupted_publication(paths) == run_id
    assert not (paths.warehouse_dir / warehouse.PUBLICATION_FILE).exists()
    build = warehouse.build_path_for(paths, run_id)
    if step == "after the swap":  # finished: as if it had not been killed
        assert warehouse.current_release(paths) == run_id == warehouse.exports_release(paths.warehouse_dir / "exports")
        assert not build.parent.exists() and (paths.releases / run_id / "plan.json").exists()
        assert warehouse.rollback(paths) == previous
    else:  # undone: the release it made is gone, its build stays for a retry
        assert warehouse.current_release(paths) == previous
        assert run_id not in warehouse.list_releases(paths) and build.exists()
        assert run_id not in warehouse.published_runs(paths)  # `reform status`: validated, "published: no"
        warehouse.publish(paths, run_id)
        assert warehouse.current_release(paths) == run_id and run_id in warehouse.published_runs(paths)
        assert warehouse.rollback(paths) == previous


def test_a_publish_retried_after_a_kill_after_its_swap_finishes_its_own_publication(published, monkeypatch):
    """Found by an Airflow campaign: reform_nightly's publish killed after its swap was retried by
    Airflow, and every retry failed with "no build" (the build file had become the published one), so
    the run failed with its release published and its exports, history and build folder left over."""
    paths, _ = published
    previous = warehouse.current_release(paths)

    def killed(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(warehouse, "_install_beside", killed)
    with pytest.raises(SystemExit):
        publish_a_copy(paths, "retried")
    monkeypatch.undo()
    assert not warehouse.build_path_for(paths, "retried").exists()

    assert warehouse.publish(paths, "retried") == paths.published  # the task's retry
    assert not (paths.warehouse_dir / warehouse.PUBLICATION_FILE).exists()
    assert warehouse.current_release(paths) == "retried" == warehouse.exports_release(paths.warehouse_dir / "exports")
    assert not warehouse.build_path_for(paths, "retried").parent.exists()
    assert warehouse.publish(paths, "retried") == paths.published  # killed after all that: retried again
    with pytest.raises(FileNotFoundError, match="no build never-built"):
        warehouse.publish(paths, "never-built")
    assert warehouse.rollback(paths) == previous
    with pytest.raises(FileNotFoundError, match="no build retried"):  # no longer the published one
        warehouse.publish(paths, "retried")


@pytest.mark.parametrize("first", ["rollback", "publish"])
def test_a_publish_and_a_rollback_at_once_are_one_after_the_other(published, monkeypatch, first):
    """Found by a concurrency campaign: a rollback read the history and exported before it took the
    publish lock, so a build published meanwhile was silently undone (the rollback then went to the
    release before the one it had read as current); and a publish linked its exports from the published
    ones before the lock, so a rollback meanwhile gave it another release's files. Now each holds the
    lock from reading what is published to its swap: the second waits for the first."""
    import threading

    paths, _ = published
    before, new = f"{first}-first-before", f"{first}-first-new"
    publish_a_copy(paths, before, keep=100)
    build = warehouse.build_path_for(paths, new)
    build.parent.mkdir(parents=True)
    shutil.copyfile(paths.published, build)
    real_export = warehouse.export_marts
    exporting, go_on = threading.Event(), threading.Event()

    def slow_export(*args, **kwargs):  # the first one stops in its exports
        if not exporting.is_set():
            exporting.set()
            assert go_on.wait(60)
        return real_export(*args, **kwargs)

    monkeypatch.setattr(warehouse, "export_marts", slow_export)
    steps = {"rollback": lambda: warehouse.rollback(paths), "publish": lambda: warehouse.publish(paths, new, keep=100)}
    second = "publish" if first == "rollback" else "rollback"
    done: list[str] = []
    returned: dict[str, object] = {}
    threads = {
        name: threading.Thread(target=lambda n=name: (returned.update({n: steps[n]()}), done.append(n)))
        for name in steps
    }
    threads[first].start()
    assert exporting.wait(60)
    threads[second].start()
    threads[second].join(1.0)
    assert done == [], "the second waits for the first's swap"
    go_on.set()
    for thread in threads.values():
        thread.join(120)
    assert done == [first, second], returned
    current = warehouse.current_release(paths)
    assert current == (new if first == "rollback" else before)
    assert warehouse.exports_release(paths.warehouse_dir / "exports") == current
    if first == "rollback":  # the build published after it is in the history: a rollback undoes it
        assert returned["rollback"] != before and warehouse.rollback(paths) == returned["rollback"]
    else:  # the rollback came after the publish: it undid the new build, as asked
        assert returned["rollback"] == before and warehouse._history(paths)[-1] == before


def test_an_incremental_build_published_after_a_rollback_exports_its_own_marts(published):
    """Found by verifying the concurrency fixes: an incremental build links the marts it did not rebuild
    from the published exports, its base release's; a rollback between its start and its publish made
    them another release's, and the build published them (1,127 observation rows beside 3,237)."""
    from ingest.incremental import Plan

    paths, _ = published
    old = warehouse.build_path_for(paths, "fewer-targets")
    old.parent.mkdir(parents=True)
    shutil.copyfile(paths.published, old)
    with contextlib.closing(duckdb.connect(str(old))) as con:
        con.execute("delete from marts.fct_target where target_id in (select target_id from marts.fct_target limit 5)")
    with contextlib.closing(duckdb.connect(str(paths.published), read_only=True)) as con:
        [(targets,)] = con.execute("select count(*) from marts.fct_target").fetchall()
    base = warehouse.build_path_for(paths, "incremental-base")
    base.parent.mkdir(parents=True)
    shutil.copyfile(paths.published, base)
    warehouse.publish(paths, "fewer-targets", keep=100)
    warehouse.publish(paths, "incremental-base", keep=100)
    build = warehouse.build_path_for(paths, "incremental-night")
    build.parent.mkdir(parents=True)
    shutil.copyfile(paths.published, build)  # tonight rebuilt no mart: every export is its base's
    Plan("incremental", "test", base_run_id="incremental-base").write(build.parent)

    assert warehouse.rollback(paths, "fewer-targets") == "fewer-targets"  # between its start and its publish
    warehouse.publish(paths, "incremental-night", keep=100)
    exported = duckdb.sql(f"select count(*) from '{paths.warehouse_dir / 'exports' / 'fct_target.parquet'}'")
    assert exported.fetchall() == [(targets,)]


def test_a_rollback_killed_after_its_swap_is_finished_by_the_next_command(published, monkeypatch):
    paths, _ = published
    publish_a_copy(paths, "rk-a")
    publish_a_copy(paths, "rk-b")
    monkeypatch.setattr(warehouse, "_install_beside", lambda *a: sys.exit("killed"))
    with pytest.raises(SystemExit):
        warehouse.rollback(paths)
    monkeypatch.undo()
    assert warehouse.current_release(paths) == "rk-a"
    assert warehouse.exports_release(paths.warehouse_dir / "exports") == "rk-b"  # beside the wrong release
    result = run_reform("releases", home=paths.home).stdout
    assert "interrupted; it has been finished or undone" in result and "* rk-a" in result
    assert warehouse.exports_release(paths.warehouse_dir / "exports") == "rk-a"
    publish_a_copy(paths, "rk-c")
    assert warehouse.rollback(paths) == "rk-a"  # the history has the rollback: not rk-b

    # killed after its swap again, and run again: the re-run finishes it, one step back, not two
    publish_a_copy(paths, "rk-d", keep=100)
    publish_a_copy(paths, "rk-e", keep=100)
    monkeypatch.setattr(warehouse, "_install_beside", lambda *a: sys.exit("killed"))
    with pytest.raises(SystemExit):
        warehouse.rollback(paths)
    monkeypatch.undo()
    assert warehouse.current_release(paths) == "rk-d"
    assert warehouse.rollback(paths) == "rk-d" == warehouse.current_release(paths)  # not rk-a
    assert warehouse.exports_release(paths.warehouse_dir / "exports") == "rk-d"
    assert warehouse.rollback(paths) == "rk-a"  # a rollback after that is a step of its own
