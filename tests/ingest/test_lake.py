"""Writing the lake: every file appears whole or not at all, and reads back as written."""

from __future__ import annotations

import contextlib
import math
import os
from datetime import datetime

import duckdb
import pyarrow.parquet as pq
import pytest

from ingest import lake

ROW = {
    "file_sha256": "a" * 64,
    "file_name": "form.csv",
    "sheet": "csv",
    "row_number": 2,
    "reporting_unit_code": "530700-ZGH",
    "region_code": "530700",
    "period_id": "2025-Q1",
    "indicator_code": "urban_new_jobs",
    "value": -0.0,
    "unit": "人",
    "obs_status": "normal",
    "note": None,
    "raw_value": "-0",
    "received_at": datetime(2025, 4, 10, 10, 0),
}


@pytest.mark.parametrize("dictionary", [True, False])
def test_records_read_back_as_written(tmp_path, dictionary):
    path = tmp_path / "new" / "folder" / "x.parquet"
    rows = [ROW, {**ROW, "row_number": 3, "value": 1.5, "note": "备注"}, {"file_sha256": "b" * 64}]
    lake.write_records(path, iter(rows), lake.RAW_SCHEMAS["submissions"], dictionary=dictionary)
    table = pq.read_table(path)
    assert table.schema == lake.RAW_SCHEMAS["submissions"]
    schema_names = lake.RAW_SCHEMAS["submissions"].names
    assert table.to_pylist() == [{name: row.get(name) for name in schema_names} for row in rows]
    assert math.copysign(1, table.column("value")[0].as_py()) == -1  # the sign of a zero survives
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.listdir(path.parent) == ["x.parquet"]  # no temporary file left


def test_a_file_is_replaced_whole(tmp_path):
    path = tmp_path / "x.parquet"
    lake.write_records(path, [ROW], lake.RAW_SCHEMAS["submissions"])
    lake.write_records(path, [ROW, ROW], lake.RAW_SCHEMAS["submissions"])
    assert pq.read_table(path).num_rows == 2
    assert os.listdir(tmp_path) == ["x.parquet"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "x.parquet"
    lake.write_records(path, [ROW], lake.RAW_SCHEMAS["submissions"])

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(lake.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        lake.write_records(path, [ROW, ROW], lake.RAW_SCHEMAS["submissions"])
    assert pq.read_table(path).num_rows == 1
    assert os.listdir(tmp_path) == ["x.parquet"]


def test_file_outputs_are_rows_quarantine_and_marker(tmp_path):
    quarantine = [
        {
            "file_sha256": "a" * 64,
            "file_name": "form.csv",
            "sheet": "csv",
            "row_number": 3,
            "raw_values": "{}",
            "reason_code": "not_a_number",
            "message": "…",
            "quarantined_at": ROW["received_at"],
        }
    ]
    marker = {"file_sha256": "a" * 64, "file_name": "form.csv", "status": "loaded_with_quarantine"}
    lake.write_file_outputs(tmp_path, "a" * 64, "submissions", [ROW], quarantine, marker)
    assert pq.read_table(tmp_path / "raw" / "submissions" / f"{'a' * 64}.parquet").num_rows == 1
    assert pq.read_table(tmp_path / "audit" / "quarantine" / f"{'a' * 64}.parquet").to_pylist() == quarantine
    assert lake.is_ingested(tmp_path, "a" * 64)
    assert lake.read_marker(tmp_path, "a" * 64)["status"] == "loaded_with_quarantine"


def test_table_files_are_the_committed_parquet_files_in_name_order(tmp_path):
    folder = tmp_path / lake.LAKE_TABLES["raw.submissions"][0]
    folder.mkdir(parents=True)
    for name in ("b2.parquet", "a1.parquet", "B0.parquet", ".c3.parquet.tmp", ".d4.parquet", "e5.json"):
        (folder / name).write_bytes(b"")
    (folder / "sub.parquet").mkdir()  # not a file of the table, though named like one
    markers = tmp_path / lake.LAKE_TABLES["raw.ingest_files"][0]
    markers.mkdir(parents=True)
    for name in ("b2", "a1", "B0", "c3", "d4", "e5"):
        (markers / f"{name}.parquet").write_bytes(b"")

    assert [p.name for p in lake.table_files(tmp_path, "raw.submissions")] == ["B0.parquet", "a1.parquet", "b2.parquet"]
    assert lake.table_files(tmp_path, "raw.workers") == []  # a table with no folder yet has no files
    # a received file's outputs count only once its record file (the commit) exists
    (markers / "a1.parquet").unlink()
    assert [p.name for p in lake.table_files(tmp_path, "raw.submissions")] == ["B0.parquet", "b2.parquet"]


_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from ingest import lake
real_open = open
def dying_open(path, *args, **kwargs):  # the temporary file exists, nothing written yet: SIGKILL
    handle = real_open(path, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
lake.open = dying_open
lake.write_records(Path(sys.argv[1]), [], lake.VALIDATION_SCHEMA)
"""


def test_a_writer_killed_midway_leaves_nothing_a_reader_of_the_folder_takes_for_a_lake_file(tmp_path):
    """Found by an Airflow kill campaign: a task killed while it wrote a lake file left its hidden
    temporary file, named ``….parquet``; every reader of the folder's ``*.parquet`` failed on it (the
    validation history: no build could publish; file records: every reprocess; reprocess notes: every
    ingest and build) until it was swept a day later."""
    import subprocess
    import sys

    from ingest import status, warehouse
    from ingest.config import Paths

    paths = Paths.from_env(tmp_path / "home").ensure()
    folders = {
        "validation": paths.lake / "audit" / "validation",
        "records": paths.lake / lake.INGEST_FILES_FOLDER,
        "reprocessing": paths.lake / lake.REPROCESSING_FOLDER,
        "task failures": paths.lake / "audit" / "task_failures",
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
        killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(folder / "r1.parquet")], check=False)
        assert killed.returncode == -9
        (folder / ".tmp-4242-1-r0.parquet").write_bytes(b"")  # a leftover named as before this fix
    left = sorted(p.name for p in folders["validation"].iterdir())
    assert len(left) == 2 and all(name.startswith(".tmp-") for name in left)

    assert lake.read_markers(paths.lake) == [] and lake.pending_reprocesses(paths.lake) == []
    said: list[str] = []
    assert status.print_status(paths, said.append) == 2  # nothing published yet, and no crash
    with contextlib.closing(duckdb.connect()) as con:
        warehouse.load_history(con, "main.validation", folders["validation"], lake.VALIDATION_SCHEMA, "r2")
        assert con.execute("select count(*) from main.validation").fetchone() == (0,)


def test_a_reprocess_note_removed_while_the_notes_are_read_is_skipped(tmp_path, monkeypatch):
    """Found by an Airflow campaign: reform_nightly's prepare failed with FileNotFoundError while
    reform_backfill's reprocess ran, which removes each file's note as it commits it: the notes were
    listed, then one was gone when read. Every ingest batch and build reads them first."""
    record = {"file_sha256": "a" * 64, "file_name": "q1.csv", "status": "loaded"}
    lake.begin_reprocess(tmp_path, record)
    lake.begin_reprocess(tmp_path, {**record, "file_sha256": "b" * 64})
    listed = lake.table_file_names(tmp_path / lake.REPROCESSING_FOLDER)

    def listed_then_one_finished(folder):
        lake.end_reprocess(tmp_path, "a" * 64)  # the other process commits a between listing and reading
        return listed

    monkeypatch.setattr(lake, "table_file_names", listed_then_one_finished)
    assert [r["file_sha256"] for r in lake.pending_reprocesses(tmp_path)] == ["b" * 64]
