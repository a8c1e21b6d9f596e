"""The lake: append-only Parquet facts the pipeline owns. The only module that knows its layout.

One received file becomes, keyed by its sha256:

- ``raw/<source>/<sha256>.parquet``          its canonical rows
- ``audit/quarantine/<sha256>.parquet``      its refused rows, with reasons
- ``audit/ingest_files/<sha256>.parquet``    one record describing it (written last: the commit marker)

A batch of received files (``reform ingest`` over many forms, see :func:`ingest.intake.ingest_batch`) is
committed together as one **segment**, named ``seg-<digest of its files' sha256>``: the same three files
with the rows, refused rows and records of all its received files, plus a pointer per received file,
``audit/segments/<sha256>`` (the segment's name), written before the segment's record file. One Parquet
file per form cost more than reading and checking the form, and every build read them all again (at
province scale ≈ 200,000 files); a segment of 64 forms is one file of each kind.

Every write goes to a temporary name first and is renamed into place, so a crash never leaves a half
file behind, and a re-run after a crash simply redoes the file. A file counts as ingested only once
its record file (its own, or its segment's) exists, and only the outputs of committed files are
loaded (:func:`committed_names`). Re-ingesting the same bytes finds the record and changes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def _raw_schema(fields: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """A raw table: where each row came from (file, sheet, row), its own columns, when it was received."""
    lineage = [
        ("file_sha256", pa.string()),
        ("file_name", pa.string()),
        ("sheet", pa.string()),
        ("row_number", pa.int32()),
    ]
    return pa.schema([*lineage, *fields, ("received_at", pa.timestamp("us"))])


RAW_SCHEMAS: dict[str, pa.Schema] = {
    "submissions": _raw_schema(
        [
            ("reporting_unit_code", pa.string()),
            ("region_code", pa.string()),
            ("period_id", pa.string()),
            ("indicator_code", pa.string()),
            ("value", pa.float64()),
            ("unit", pa.string()),
            ("obs_status", pa.string()),
            ("note", pa.string()),
            ("raw_value", pa.string()),
        ]
    ),
    # statistical microdata (ingest/microdata.py): ID numbers arrive pseudonymised, names never arrive
    "enterprises": _raw_schema(
        [
            ("credit_code", pa.string()),
            ("enterprise_name", pa.string()),
            ("industry_code", pa.string()),
            ("region_code", pa.string()),
            ("ownership_code", pa.string()),
            ("headcount", pa.int64()),
            ("has_union", pa.bool_()),
            ("has_collective_contract", pa.bool_()),
            ("reference_year", pa.int32()),
            ("payroll_yuan", pa.float64()),
            ("education_fund_yuan", pa.float64()),
            ("frontline_education_yuan", pa.float64()),
        ]
    ),
    "workers": _raw_schema(
        [
            ("worker_pseudonym", pa.string()),
            ("sex", pa.string()),
            ("birth_year", pa.int32()),
            ("employer_credit_code", pa.string()),
            ("region_code", pa.string()),
            ("industry_code", pa.string()),
            ("skill_grade_code", pa.string()),
            ("worker_group_code", pa.string()),
            ("is_frontline", pa.bool_()),
            ("reference_year", pa.int32()),
            ("craftsman_level", pa.string()),
            ("craftsman_year", pa.int32()),
        ]
    ),
    "trainings": _raw_schema(
        [
            ("worker_pseudonym", pa.string()),
            ("sex", pa.string()),
            ("birth_year", pa.int32()),
            ("course_name", pa.string()),
            ("hours", pa.float64()),
            ("start_date", pa.date32()),
            ("provider_name", pa.string()),
        ]
    ),
    "certifications": _raw_schema(
        [
            ("worker_pseudonym", pa.string()),
            ("sex", pa.string()),
            ("birth_year", pa.int32()),
            ("skill_grade_code", pa.string()),
            ("occupation_code", pa.string()),
            ("occupation_name", pa.string()),
            ("certified_on", pa.date32()),
            ("issuing_body", pa.string()),
        ]
    ),
    "wages": _raw_schema(
        [
            ("occupation_code", pa.string()),
            ("occupation_name", pa.string()),
            ("skill_grade_code", pa.string()),
            ("region_code", pa.string()),
            ("year", pa.int32()),
            ("monthly_wage_yuan", pa.float64()),
            ("headcount", pa.int64()),
        ]
    ),
    "survey_responses": _raw_schema(
        [
            ("respondent_id", pa.string()),
            ("respondent_id_is_pseudonym", pa.bool_()),
            ("survey_year", pa.int32()),
            ("region_code", pa.string()),
            ("worker_group_code", pa.string()),
            ("design_weight", pa.float64()),
            ("monthly_income_yuan", pa.float64()),
            ("received_training", pa.bool_()),
            ("satisfaction", pa.int32()),
            ("has_written_contract", pa.bool_()),
        ]
    ),
}

INGEST_FILES_SCHEMA = pa.schema(
    [
        ("file_sha256", pa.string()),
        ("file_name", pa.string()),
        ("source", pa.string()),
        ("file_format", pa.string()),
        ("size_bytes", pa.int64()),
        ("reporting_unit_code", pa.string()),
        ("period_id", pa.string()),
        ("received_at", pa.timestamp("us")),
        ("received_at_source", pa.string()),
        ("status", pa.string()),
        ("rows_received", pa.int64()),
        ("rows_accepted", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("rows_skipped", pa.int64()),
        ("error_reason", pa.string()),
        ("error", pa.string()),
        ("archive_path", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("file_sha256", pa.string()),
        ("file_name", pa.string()),
        ("sheet", pa.string()),
        ("row_number", pa.int32()),
        ("raw_values", pa.string()),
        ("reason_code", pa.string()),
        ("message", pa.string()),
        ("quarantined_at", pa.timestamp("us")),
    ]
)

VALIDATION_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("validated_at", pa.timestamp("us")),
        ("suite", pa.string()),
        ("batch", pa.string()),
        ("expectation", pa.string()),
        ("column_name", pa.string()),
        ("severity", pa.string()),
        ("success", pa.bool_()),
        ("unexpected_count", pa.int64()),
        ("element_count", pa.int64()),
        ("unexpected_sample", pa.string()),
        ("description", pa.string()),
        # an incremental build's suites on tables it did not touch: the result of the run that built them
        ("carried_from_run_id", pa.string()),
    ]
)

# the run of a warehouse's own validation: the one validated last (a run id given by hand,
# ``reform build --run-id``, need not sort after the others)
LATEST_VALIDATION_RUN = "(select arg_max(run_id, validated_at) from audit.validation_results)"

VALIDATION_FAILURES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("suite", pa.string()),
        ("rule", pa.string()),
        ("severity", pa.string()),
        ("reporting_unit_code", pa.string()),
        ("period_id", pa.string()),
        ("indicator_code", pa.string()),
        ("value", pa.float64()),
        ("row_values", pa.string()),
    ]
)

TASK_FAILURES_SCHEMA = pa.schema(
    [
        ("dag_id", pa.string()),
        ("run_id", pa.string()),
        ("task_id", pa.string()),
        ("try_number", pa.int32()),
        ("failed_at", pa.timestamp("us")),
        ("error_type", pa.string()),
        ("error", pa.string()),
        ("what_to_do", pa.string()),
    ]
)

# The province's unit register (``reform register``): reporting units and obligations beyond the ones the
# documents name, in the columns of the dbt seeds. One snapshot, replaced whole by each registration.
REGISTER_UNITS_SCHEMA = pa.schema(
    [
        ("unit_code", pa.string()),
        ("name_zh", pa.string()),
        ("name_en", pa.string()),
        ("kind", pa.string()),
        ("region_code", pa.string()),
        ("registered_from", pa.string()),  # the archived register file (sha256)
    ]
)
REGISTER_OBLIGATIONS_SCHEMA = pa.schema(
    [
        ("unit_code", pa.string()),
        ("indicator_code", pa.string()),
        ("periodicity", pa.string()),
        ("first_year", pa.int32()),
        ("last_year", pa.int32()),
        ("due_days_after_period_end", pa.int32()),
        ("region_code", pa.string()),  # the unit's, so that a province's rows are found without a join
        ("registered_from", pa.string()),
    ]
)
REGISTER_FOLDERS = {"units": "register/reporting_units", "obligations": "register/reporting_obligations"}

# table name in the warehouse → (lake folder, schema)
LAKE_TABLES: dict[str, tuple[str, pa.Schema]] = {
    **{f"raw.{source}": (f"raw/{source}", schema) for source, schema in RAW_SCHEMAS.items()},
    "raw.ingest_files": ("audit/ingest_files", INGEST_FILES_SCHEMA),
    "raw.quarantine": ("audit/quarantine", QUARANTINE_SCHEMA),
    "raw.validation_results": ("audit/validation", VALIDATION_SCHEMA),
    "raw.task_failures": ("audit/task_failures", TASK_FAILURES_SCHEMA),
    "raw.register_units": (REGISTER_FOLDERS["units"], REGISTER_UNITS_SCHEMA),
    "raw.register_obligations": (REGISTER_FOLDERS["obligations"], REGISTER_OBLIGATIONS_SCHEMA),
}


LOCK_SLOTS = 1 << 24  # byte-range locks on one file: two different hashes share a lock once in 16 million


@contextlib.contextmanager
def file_lock(lake: Path, *sha256s: str) -> Iterator[None]:
    """Hold while deciding whether files are new and writing their outputs: two workers given the same
    bytes at once (mapped Airflow tasks, ``reform ingest --jobs``) then find one new file and one duplicate.

    One byte-range lock per hash on ``.locks/files.lock`` (a batch takes all of its files' locks, in
    order, so two batches never wait on each other in a cycle). The locks belong to the process: one
    process must not hold two of these at once (closing either file would release both)."""
    with _range_locks(lake, "files.lock", sha256s):
        yield


@contextlib.contextmanager
def segment_lock(lake: Path, segment: str) -> Iterator[None]:
    """Hold while rewriting a segment's files: two workers may each take one of its files out at once
    (the forms of one rejected batch, sent again under new names). On its own lock file, so that it can
    be taken while :func:`file_lock` is held."""
    with _range_locks(lake, "segments.lock", [segment]):
        yield


@contextlib.contextmanager
def _range_locks(lake: Path, lock_file: str, keys: Iterable[str]) -> Iterator[None]:
    folder = lake / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    slots = sorted({int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) % LOCK_SLOTS for key in keys})
    with (folder / lock_file).open("a") as handle:
        for slot in slots:
            fcntl.lockf(handle, fcntl.LOCK_EX, 1, slot)
        try:
            yield
        finally:
            for slot in reversed(slots):
                fcntl.lockf(handle, fcntl.LOCK_UN, 1, slot)


SEGMENT_PREFIX = "seg-"
SEGMENTS_FOLDER = "audit/segments"
INGEST_FILES_FOLDER = "audit/ingest_files"


def marker_path(lake: Path, sha256: str) -> Path:
    """The record file of a received file ingested on its own (a segment's members have their segment's)."""
    return lake / INGEST_FILES_FOLDER / f"{sha256}.parquet"


def segment_name(sha256s: Iterable[str]) -> str:
    """The name of the segment holding these received files (the same files, the same name)."""
    return SEGMENT_PREFIX + hashlib.sha256("".join(sorted(sha256s)).encode()).hexdigest()[:40]


def segment_of(lake: Path, sha256: str) -> str | None:
    """The committed segment that holds a received file, if any."""
    try:
        name = (lake / SEGMENTS_FOLDER / sha256).read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    if not name.startswith(SEGMENT_PREFIX) or not (lake / INGEST_FILES_FOLDER / f"{name}.parquet").exists():
        return None  # a pointer written by a batch that never committed (it crashed): not ingested
    return name


def is_ingested(lake: Path, sha256: str) -> bool:
    return marker_path(lake, sha256).exists() or segment_of(lake, sha256) is not None


def segment_records(lake: Path, segment: str) -> list[dict[str, object]]:
    """The audit records of a committed segment's files."""
    return pq.read_table(lake / INGEST_FILES_FOLDER / f"{segment}.parquet").to_pylist()


def prior_receipt(lake: Path, sha256: str) -> dict[str, object] | None:
    """The audit record of the bytes ``sha256`` if they were received before, else None."""
    own = marker_path(lake, sha256)
    if own.exists():
        return pq.read_table(own).to_pylist()[0]
    segment = segment_of(lake, sha256)
    if segment is None:
        return None
    record = next((r for r in segment_records(lake, segment) if r["file_sha256"] == sha256), None)
    if record is None:  # a removal (remove_file_outputs) died after the records' rewrite: finish it
        (lake / SEGMENTS_FOLDER / sha256).unlink(missing_ok=True)
    return record


def read_again(prior: dict[str, object], file_name: str, source: str) -> bool:
    """Whether bytes received before (``prior``: their audit record) are read again, not a duplicate.

    The same bytes are read once, whatever their name. The exception is a file rejected under another
    name or as another source: the name may be why it was rejected (a form saved as ``.txt`` and renamed
    ``.csv``, a roster put into the wrong microdata folder), so it is read again under the new one, and
    its new outputs and audit record replace the rejection's (which loaded no rows). The same bytes
    under the same name get the same verdict: they stay a duplicate (``reform reprocess`` re-reads them)."""
    return prior["status"] == "rejected" and (prior["file_name"], prior["source"]) != (file_name, source)


def replaces_outputs(lake: Path, sha256: str, file_name: str, source: str, reprocess_as: object) -> bool:
    """Whether reading these bytes takes what the lake holds for them out first: a reprocess
    (``reprocess_as`` given), or a rejection read again under a new name (see :func:`read_again`)."""
    if reprocess_as is not None:
        return True
    prior = prior_receipt(lake, sha256)
    return prior is not None and read_again(prior, file_name, source)


def read_marker(lake: Path, sha256: str) -> dict[str, object]:
    """A received file's audit record (from its own record file or its segment's)."""
    record = prior_receipt(lake, sha256)
    if record is None:
        raise LookupError(f"the lake holds no audit record of the file {sha256}")
    return record


def read_markers(lake: Path) -> list[dict[str, object]]:
    """Every received file's audit record, oldest first."""
    records = _records_in(lake / INGEST_FILES_FOLDER)
    return sorted(records, key=lambda r: (r["received_at"], r["file_sha256"]))


def _records_in(folder: Path) -> list[dict[str, object]]:
    """The rows of every Parquet file of a folder of audit records, file by file in name order. A file
    gone between the listing and its reading is skipped: a reprocess running elsewhere removes its
    notes as it finishes them (an ingest batch or a build reading the notes meanwhile failed)."""
    rows = []
    for name in table_file_names(folder):
        try:
            rows += pq.read_table(folder / name).to_pylist()
        except FileNotFoundError:
            continue
    return rows


# files whose re-reading (reform reprocess, a backfill) has begun: their record, until the new outputs are in
REPROCESSING_FOLDER = ".reprocessing"


def begin_reprocess(lake: Path, record: dict[str, object]) -> None:
    """Note, before a re-read removes anything, the record of the file it re-reads (see
    :func:`pending_reprocesses`)."""
    folder = lake / REPROCESSING_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    write_records(folder / f"{record['file_sha256']}.parquet", [record], INGEST_FILES_SCHEMA)


def end_reprocess(lake: Path, sha256: str) -> None:
    """The file's re-read is committed: forget the note :func:`begin_reprocess` wrote."""
    (lake / REPROCESSING_FOLDER / f"{sha256}.parquet").unlink(missing_ok=True)


def reprocess_noted(lake: Path, sha256: str) -> bool:
    """Whether the file's re-read is noted as begun and not committed."""
    return (lake / REPROCESSING_FOLDER / f"{sha256}.parquet").exists()


def pending_reprocesses(lake: Path) -> list[dict[str, object]]:
    """The records of files whose re-read began and did not commit (a crash, a killed task): their old
    outputs may be gone, so they are no longer among :func:`read_markers`; the next reprocess redoes them."""
    return _records_in(lake / REPROCESSING_FOLDER)


def _output_folders() -> list[str]:
    return [f"raw/{source}" for source in RAW_SCHEMAS] + ["audit/quarantine", INGEST_FILES_FOLDER]


def remove_file_outputs(lake: Path, sha256: str) -> None:
    """Remove what the lake holds for one file (before it is processed again); the record goes last.

    A file committed in a segment is taken out of the segment's files (each rewritten without its rows);
    the segment's other files stay as they were."""
    for folder in _output_folders():
        (lake / folder / f"{sha256}.parquet").unlink(missing_ok=True)
    segment = segment_of(lake, sha256)
    if segment is None:
        return
    with segment_lock(lake, segment):  # read, filtered and written back whole: one rewriter at a time
        for folder in _output_folders():  # the record file last: until then the file still counts as ingested
            path = lake / folder / f"{segment}.parquet"
            if not path.exists():
                continue
            table = pq.read_table(path)
            kept = table.filter(pc.not_equal(table["file_sha256"], sha256))
            if kept.num_rows == table.num_rows:
                continue
            if kept.num_rows:
                write_table(path, kept)
            else:
                path.unlink()
    # a crash before this leaves a pointer to a segment without the file's record: prior_receipt ends it
    (lake / SEGMENTS_FOLDER / sha256).unlink(missing_ok=True)


def committed_names(lake: Path) -> set[str]:
    """The names (without ``.parquet``) of the record files: received files and segments that committed."""
    return {name[: -len(".parquet")] for name in table_file_names(lake / INGEST_FILES_FOLDER)}


def write_records(
    path: Path, records: Iterable[dict[str, object]], schema: pa.Schema, *, dictionary: bool = True
) -> Path:
    """Write records to one Parquet file atomically (temporary file, then rename).

    ``dictionary=False`` turns Parquet's dictionary encoding off: for the few hundred rows of one
    received file the plain pages are smaller and a quarter faster to write, and they read back the same.

    Snappy, not zstd: for a form's few kilobytes, setting up zstd's compressor for every column costs
    more than the encoding (1.1 against 0.45 ms for a 148-row form, 0.55 against 0.2 ms for a marker,
    measured with pyarrow 26), which was a fifth of a form's intake; the files are a third larger.
    """
    return write_table(path, pa.Table.from_pylist(list(records), schema=schema), dictionary=dictionary)


def write_table(path: Path, table: pa.Table, *, dictionary: bool = True) -> Path:
    """Write an Arrow table to one Parquet file atomically (see :func:`write_records`)."""
    # encoded in memory and written with one open: a small file costs the Parquet writer's own
    # open and filesystem lookup more than its bytes
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy", use_dictionary=dictionary)
    try:
        _replace_with(path, sink.getvalue())
    except FileNotFoundError:  # the folder's first file (asking every time costs more than the write)
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_with(path, sink.getvalue())
    return path


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: unique to this process and thread,
    hidden (``.tmp-``: skipped by :func:`table_file_names`, swept by :func:`sweep_temporaries`) and
    ending in ``.tmp``, so that no reader of a folder's ``*.parquet`` takes a killed writer's for a file."""
    return path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}.tmp")


def _replace_with(path: Path, data: pa.Buffer) -> None:
    """Put ``data`` at ``path`` through a temporary file and a rename, so ``path`` is never half written.

    The temporary name is unique to this process and thread (two writers of one path never share it;
    a leftover of a crashed process is simply overwritten), hidden (``.tmp-``, skipped by
    :func:`table_files`) and ends in ``.tmp``, not ``.parquet``: a process killed while writing leaves
    it, and every reader of a folder's ``*.parquet`` (the validation history, file records, reprocess
    notes) failed on it until it was swept a day later (found by an Airflow kill campaign). The file is
    created ``0o600``, the mode the lake's files have always had.
    """
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb", opener=_private_opener) as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def write_file_outputs(
    lake: Path,
    sha256: str,
    source: str,
    rows: list[dict[str, object]],
    quarantine: list[dict[str, object]],
    file_record: dict[str, object],
) -> None:
    """Write one received file's rows, quarantine and, last, its audit record (the commit marker).

    Without dictionary encoding: each of these files holds one received file, a few hundred rows at most
    (see :func:`write_records`)."""
    if rows:
        write_records(lake / "raw" / source / f"{sha256}.parquet", rows, RAW_SCHEMAS[source], dictionary=False)
    if quarantine:
        write_records(
            lake / "audit" / "quarantine" / f"{sha256}.parquet", quarantine, QUARANTINE_SCHEMA, dictionary=False
        )
    write_records(marker_path(lake, sha256), [file_record], INGEST_FILES_SCHEMA, dictionary=False)


@dataclass
class Received:
    """One received file's outputs, before they are written: its rows, refused rows and audit record."""

    sha256: str
    rows: list[dict[str, object]]
    quarantine: list[dict[str, object]]
    record: dict[str, object]


def write_segment(lake: Path, source: str, members: list[Received]) -> str:
    """Commit several received files at once as one segment (see the module's docstring); returns its name.

    The rows go to ``raw/<source>/<segment>.parquet`` and ``audit/quarantine/<segment>.parquet``, a
    pointer per file to ``audit/segments/<sha256>``, and last the records to
    ``audit/ingest_files/<segment>.parquet``: the commit. A crash before it leaves files no build loads
    (:func:`committed_names`) and pointers that do not count (:func:`segment_of`); a re-run redoes them."""
    if not members:
        raise ValueError("a segment needs at least one received file")
    name = segment_name(m.sha256 for m in members)
    rows = [row for m in members for row in m.rows]
    quarantine = [q for m in members for q in m.quarantine]
    if rows:
        write_records(lake / "raw" / source / f"{name}.parquet", rows, RAW_SCHEMAS[source])
    if quarantine:
        write_records(lake / "audit" / "quarantine" / f"{name}.parquet", quarantine, QUARANTINE_SCHEMA)
    pointers = lake / SEGMENTS_FOLDER
    pointers.mkdir(parents=True, exist_ok=True)
    for member in members:
        # not renamed into place: a torn pointer names no committed segment and so does not count
        with open(pointers / member.sha256, "w", encoding="ascii", opener=_private_opener) as handle:
            handle.write(name)
    write_records(lake / INGEST_FILES_FOLDER / f"{name}.parquet", [m.record for m in members], INGEST_FILES_SCHEMA)
    return name


def write_validation_results(
    lake: Path, run_id: str, records: list[dict[str, object]], failures: list[dict[str, object]], stage: str = ""
) -> None:
    """One run's expectation results and the rows behind its failures (failures first: results commit).

    ``stage="load"`` keeps the checks run right after an ingest apart from the build's (the publish gate).
    """
    suffix = f"_{stage}" if stage else ""
    if failures:
        failures_file = lake / "audit" / f"validation_failures{suffix}" / f"{run_id}.parquet"
        write_records(failures_file, failures, VALIDATION_FAILURES_SCHEMA)
    write_records(lake / "audit" / f"validation{suffix}" / f"{run_id}.parquet", records, VALIDATION_SCHEMA)


LOAD_BATCH_FILES = 5_000


def table_files(lake: Path, table: str, committed: set[str] | None = None) -> list[Path]:
    """The Parquet files of one warehouse table a build may read, in a stable order (temporary files
    skipped): in the folders of received files' outputs, only those of committed files (``committed``,
    default :func:`committed_names`)."""
    folder_name, schema = LAKE_TABLES[table]
    folder = lake / folder_name
    names = table_file_names(folder)
    if "file_sha256" in schema.names:
        committed = committed_names(lake) if committed is None else committed
        names = [n for n in names if n[: -len(".parquet")] in committed]
    return [folder / name for name in names]


def table_file_names(folder: Path) -> list[str]:
    """The committed Parquet file names in one lake folder, sorted (a scan of names, not of paths:
    sorting 200,000 ``Path`` objects alone took three seconds at province scale)."""
    try:
        with os.scandir(folder) as entries:
            names = [
                e.name for e in entries if e.name.endswith(".parquet") and not e.name.startswith(".") and e.is_file()
            ]
    except FileNotFoundError:
        return []
    return sorted(names)


def table_columns(con, schema: str, table: str) -> list[str]:
    """The columns of ``schema.table`` (a table or a view) in the opened database, in order; none when
    it does not exist (an older warehouse: the callers say what is missing or make it)."""
    found = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [name for (name,) in found]


def insert_files(con, table: str, files: list[Path], condition: str = "") -> None:
    """Append lake files to a warehouse table, by column name (files written before a column was added
    simply have nulls in it), in batches: reading the footers of 100,000 small files at once costs
    gigabytes outside DuckDB's memory limit."""
    for start in range(0, len(files), LOAD_BATCH_FILES):
        batch = [str(f) for f in files[start : start + LOAD_BATCH_FILES]]
        con.execute(
            f"insert into {table} by name select * from read_parquet(?, union_by_name = true){condition}", [batch]
        )


def load_into(
    con,
    lake: Path,
    only: set[str] | None = None,
    where: dict[str, str] | None = None,
    files: dict[str, list[str]] | None = None,
) -> dict[str, int]:
    """Create the ``raw`` tables of a warehouse from the lake (typed and empty when no file exists yet).

    ``only``: the sha256 of the received files to load (default: all). ``where``: table name → a SQL
    condition on that table's columns; only the rows meeting it are loaded (one province's rows, see
    ``ingest/shards.py``); tables not named load whole. ``files``: table → the lake file names to load
    (a snapshot taken before, see ``ingest/incremental.py``; default: what is there now). Returns rows
    loaded per table.
    """
    counts: dict[str, int] = {}
    con.execute("create schema if not exists raw")
    committed = committed_names(lake) if files is None else set()

    def load(table: str, folder: str, schema: pa.Schema) -> int:
        if files is not None:
            chosen = [lake / folder / name for name in sorted(files.get(table, []))]
        else:
            chosen = table_files(lake, table, committed)
        chosen = [f for f in chosen if only is None or f.stem in only]
        empty = pa.Table.from_pylist([], schema=schema)  # noqa: F841 - read by DuckDB's replacement scan
        con.execute(f"create or replace table {table} as select * from empty")
        condition = f" where {where[table]}" if where and table in where else ""
        insert_files(con, table, chosen, condition)
        return con.execute(f"select count(*) from {table}").fetchone()[0]

    register = [table for table in LAKE_TABLES if table.startswith("raw.register_")]
    for table, (folder, schema) in LAKE_TABLES.items():
        if table not in register:
            counts[table] = load(table, folder, schema)
    with register_lock(lake, shared=True):  # both tables of one register, never one being written
        for table in register:
            counts[table] = load(table, *LAKE_TABLES[table])
    return {table: counts[table] for table in LAKE_TABLES}


def register_snapshot(lake: Path, part: str) -> Path:
    """The file of the register snapshot's ``part`` ("units" or "obligations")."""
    return lake / REGISTER_FOLDERS[part] / "register.parquet"


def replace_text(path: Path, text: str) -> None:
    """Write a small text file whole or not at all: to a hidden temporary file beside it, its name unique
    to the process and thread (two writers at once never share it), then renamed over it."""
    tmp = temporary_path(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


STALE_SECONDS = 24 * 3600  # a temporary file not written for a day belongs to a process that died


def sweep_temporaries(folders: Iterable[Path], now: float | None = None) -> list[Path]:
    """Remove the temporary files (hidden ``.tmp-…`` or ``….tmp``) and folders (``.exports-…``) that
    killed processes left in ``folders``: a rename never came for them, so nothing reads them, but a
    microdata file's is as large as the file. Only those not written for :data:`STALE_SECONDS`: a
    running process's temporary file is younger, whatever machine it runs on. Returns what went."""
    now = time.time() if now is None else now
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            name = entry.name
            temporary = name.startswith(".tmp-") or (name.startswith(".") and name.endswith(".tmp"))
            if not (temporary or name.startswith(".exports-")):
                continue
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime < STALE_SECONDS:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:  # taken by another sweep
                continue
            removed.append(Path(entry.path))
    return removed


REGISTER_WRITING = "register/.writing"  # the register being written: its sha256, until both tables are in


def write_register(
    lake: Path, units: list[dict[str, object]], obligations: list[dict[str, object]], sha256: str
) -> None:
    """Replace the register snapshot (both tables, each renamed into place). The two renames are not
    one: ``register/.writing`` names the register until both are in, so that a write killed between
    them (new units beside old obligations, which fails every build) is found and done again from the
    archived files (:func:`ingest.reference.finish_interrupted_register`)."""
    marker = lake / REGISTER_WRITING
    with register_lock(lake):
        replace_text(marker, sha256)
        for part, rows, schema in (
            ("units", units, REGISTER_UNITS_SCHEMA),
            ("obligations", obligations, REGISTER_OBLIGATIONS_SCHEMA),
        ):
            write_records(register_snapshot(lake, part), rows, schema)
        marker.unlink()


_rewriting = threading.local()  # the lakes whose rewrite lock this thread holds exclusively


def _rewriting_lakes() -> set[str]:
    """The lakes (resolved paths) whose rewrite lock this thread holds exclusively."""
    return _rewriting.__dict__.setdefault("lakes", set())


@contextlib.contextmanager
def rewrite_lock(lake: Path, shared: bool = False) -> Iterator[None]:
    """Exclusive: one file's outputs taken out of the lake and written again (a reprocess's re-read,
    :func:`begin_reprocess` to :func:`end_reprocess`; a rejected file read again under a new name, from
    the removal of the rejection to the commit of the new reading). Shared: a build's inventory and load
    of the lake. A build therefore reads every file before or after its re-read, never halfway (found by
    a concurrency campaign: files taken out of their segments after a build's inventory were missing
    from the warehouse it published); a writer waits for a build's load, a build for one file's re-read.
    A note in ``.reprocessing`` whose lock is free belongs to a reprocess that died.

    Taken before :func:`file_lock` (see :func:`hash_locks`), never while holding it. The exclusive lock
    is reentrant in its thread (a reprocess holds it around the ingest of each file it re-reads)."""
    key, held = str(lake.resolve()), _rewriting_lakes()
    if key in held:
        if shared:
            raise RuntimeError("this thread holds the lake's rewrite lock exclusively: a shared one waits for ever")
        yield
        return
    with flock(lake / ".locks" / "rewrite.lock", shared):
        if shared:
            yield
            return
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


@contextlib.contextmanager
def hash_locks(lake: Path, sha256s: Iterable[str], rewrites: Callable[[], bool]) -> Iterator[None]:
    """:func:`file_lock` of ``sha256s``, and before it the exclusive :func:`rewrite_lock` when the work
    done under them will take a file's outputs out of the lake (``rewrites()``, asked under the hash
    locks: a rejection read again under a new name, a reprocess). Found by a concurrency campaign: such
    a rejection was taken out of its segment after a build's inventory, and the build published the lake
    without it and without its new reading.

    A reprocess takes the rewrite lock, then a hash lock; so must this, or the two wait on each other:
    when ``rewrites()`` first says so under the hash locks alone, they are let go and taken again after
    the rewrite lock (and ``rewrites()`` asked again: the lake may have changed meanwhile). Nothing may
    have been written by then: ``rewrites()`` only reads."""
    shas = list(sha256s)
    rewrite = str(lake.resolve()) in _rewriting_lakes()  # held already: no second try
    while True:
        with contextlib.ExitStack() as stack:
            if rewrite:
                stack.enter_context(rewrite_lock(lake))
            stack.enter_context(file_lock(lake, *shas))
            if not rewrite and rewrites():
                rewrite = True
                continue
            yield
            return


@contextlib.contextmanager
def flock(path: Path, shared: bool = False, wait: bool = True) -> Iterator[None]:
    """A whole-file lock (``flock``: of the open file, not of the process, so it does not interfere with
    the byte-range locks of :func:`file_lock`); released when its holder dies. ``wait=False``: raise
    :class:`BlockingIOError` at once when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:  # readable too: on NFS a shared lock is a read lock (EBADF on a write-only file)
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def register_lock(lake: Path, shared: bool = False) -> Iterator[None]:
    """Held by a register's write (exclusive) and by a build's load of the lake (shared), so that a build
    reads both tables of one register, and a register being written is never taken for one whose write
    was killed (a killed process's lock is released with it). Found by a concurrency campaign: a build
    started during `reform register` wrote the register again itself, and the register then failed."""
    with flock(lake / "register" / ".lock", shared):
        yield


def interrupted_register(lake: Path) -> str | None:
    """The sha256 of a register whose write did not finish (see :func:`write_register`), if any; a
    register being written now is waited for (seconds), and then it has finished."""
    marker = lake / REGISTER_WRITING
    if not marker.exists():
        return None
    with register_lock(lake):  # its writer, if alive, holds it
        try:
            return marker.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None


def read_register_units(lake: Path) -> dict[str, str]:
    """Registered reporting unit code → its region code (empty when nothing is registered)."""
    path = register_snapshot(lake, "units")
    if not path.exists():
        return {}
    table = pq.read_table(path, columns=["unit_code", "region_code"]).to_pydict()
    return dict(zip(table["unit_code"], table["region_code"], strict=True))
