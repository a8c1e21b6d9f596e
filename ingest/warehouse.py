"""Build a warehouse file from the lake, validate it, publish it atomically, roll back.

A DuckDB file has one writer or many readers across processes. Analysts and BI tools read the
published file all day, so nobody ever writes to it:

1. ``prepare``  a fresh file ``warehouse/build/<run_id>/reform.duckdb`` gets the lake's ``raw`` tables;
2. ``dbt``      ``dbt build`` (seeds, models, data tests; not the unit tests, see
                :data:`BUILD_EXCLUDES`) into that file;
3. ``validate`` Great Expectations checkpoints on that file; results go to ``audit.validation_results``
                and the lake;
4. ``publish``  only if no critical expectation failed: the file is hard-linked into
                ``releases/<run_id>/`` and renamed onto ``warehouse/reform.duckdb`` (``os.replace``:
                atomic; a reader holding the old file keeps reading it, new connections see the new one).

The file is always named ``reform.duckdb`` (in a per-run folder) because DuckDB names the catalog
after the file, and views refer to it: a build opened under another name would break them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import duckdb
import pyarrow as pa

from ingest import lake
from ingest.config import DBT_PARSE_FILE, DBT_PROJECT_DIR, SHANGHAI, WAREHOUSE_FILE_NAME, Paths, duckdb_build_config
from ingest.dbt_run import dbt_executable, tied_to_parent

if TYPE_CHECKING:
    from ingest.incremental import Plan

log = logging.getLogger(__name__)

KEEP_RELEASES = 5
# The warehouse's audit.validation_failures holds the failing rows of the runs validated last, this many
# (status, reports and the unit views read the latest run's); every run's stay in the lake. Kept whole,
# they grew the warehouse by a run's rows a night (province: 18,000 rows, 1.5 MB, copied every night).
KEEP_FAILING_ROWS_RUNS = 30
WORKING_LOCK = ".working.lock"  # in a build's (or shard's) folder: held by the try working in it, see working_in
AS_OF_FILE = "as_of_date"  # beside the build: the date every dbt model of the build is judged at
# Folders of builds that never published (failed, refused or killed) stay for inspection, the newest
# this many (env REFORM_KEEP_FAILED_BUILDS); older ones are removed once not written for a day. At
# province scale a build's folder holds GBs.
KEEP_FAILED_BUILDS = 2
KEEP_FAILED_BUILDS_ENV = "REFORM_KEEP_FAILED_BUILDS"


class BuildError(RuntimeError):
    """The build could not produce a warehouse (dbt failed). The published warehouse is untouched."""


class BuildRunning(RuntimeError):
    """An earlier try of the same build (or shard) is still working on it (see :func:`working_in`): nothing
    was done."""


class PublishBlocked(RuntimeError):
    """A critical validation failed: the build was not published. The published warehouse is untouched."""

    def __init__(self, message: str, failures: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class BuildReport:
    run_id: str
    build_path: Path
    raw_counts: dict[str, int] = field(default_factory=dict)
    dbt_nodes: int = 0
    validations: list[dict[str, object]] = field(default_factory=list)
    published_path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    plan: object = None  # ingest.incremental.Plan: full or incremental, and why

    @property
    def critical_failures(self) -> list[dict[str, object]]:
        return [v for v in self.validations if not v["success"] and v["severity"] == "critical"]

    @property
    def warnings(self) -> list[dict[str, object]]:
        return [v for v in self.validations if not v["success"] and v["severity"] != "critical"]


def new_run_id(now: datetime | None = None) -> str:
    return f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def airflow_build_id(dag_id: str, run_id: str, clear_number: int, run_after: datetime) -> str:
    """The build id of an Airflow run's ``prepare``, shaped as :func:`new_run_id`'s: the same for every
    try of the task, so that a retried ``prepare`` starts its own build over; before, each try drew a
    new id and a killed one left its folder behind (several GB at province scale, kept a day). Another
    once the run is cleared (Airflow counts a run's clears): a cleared run builds anew."""
    token = hashlib.sha256(f"{dag_id}/{run_id}/{clear_number}".encode()).hexdigest()[:6]
    return f"{run_after.astimezone(UTC):%Y%m%dT%H%M%S}-{token}"


RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # a folder name, nothing that leaves the folder


class RunIdError(ValueError):
    """A run id given for a build that cannot be used (see :func:`given_run_id`); nothing was built."""


def given_run_id(paths: Paths, run_id: str | None) -> str:
    """The run id of a new build: ``run_id`` when given (checked), else a new one (:func:`new_run_id`).

    A given id names the build's and the release's folders and the validation run, so it must be a plain
    folder name, and one no earlier run has used: a reused id would publish a warehouse under another
    release's name and give two validation runs one id. The id is claimed by creating the build's folder
    (atomic: of two runs given the same id at once, one gets it). Raises :class:`RunIdError` saying what
    to change."""
    if run_id is None:
        while True:
            with contextlib.suppress(FileExistsError):
                return _claimed(paths, new_run_id())
    if not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise RunIdError(
            f"run id {run_id!r} is not allowed: use up to 100 letters, digits, '_', '.' and '-', starting "
            "with a letter or digit (or leave --run-id out for a timestamp)"
        )
    used = [
        f"{what} ({path})"
        for what, path in (
            ("a release", paths.releases / run_id),
            ("a build (running, or failed: a failed one leaves its folder)", paths.builds / run_id),
            ("a validation run", paths.lake / "audit" / "validation" / f"{run_id}.parquet"),
        )
        if path.exists()
    ]
    if used:
        raise RunIdError(
            f"run id {run_id!r} is already used by {' and '.join(used)}; choose another one "
            "(or leave --run-id out for a timestamp)"
        )
    try:
        return _claimed(paths, run_id)
    except FileExistsError:
        raise RunIdError(
            f"run id {run_id!r} was taken a moment ago by another run, which is building it now "
            f"({paths.builds / run_id}); choose another one (or leave --run-id out for a timestamp)"
        ) from None


def _claimed(paths: Paths, run_id: str) -> str:
    (paths.builds / run_id).mkdir(parents=True)
    return run_id


@dataclass(frozen=True)
class LeftBuild:
    """A folder under ``warehouse/build/`` no publish took away: a failed, refused or killed build (or
    one still running), or the scratch of a killed check of landed files (``landed-<run_id>``)."""

    path: Path
    last_written: float  # the newest modification time in the folder (seconds since the epoch)
    size_bytes: int

    @property
    def scratch(self) -> bool:
        return self.path.name.startswith("landed-")


def left_builds(paths: Paths) -> list[LeftBuild]:
    """The folders under ``warehouse/build/``, the last written first."""
    found = []
    try:
        entries = [entry for entry in os.scandir(paths.builds) if entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    for entry in entries:
        newest, size = entry.stat(follow_symlinks=False).st_mtime, 0
        for folder, dirs, files in os.walk(entry.path):
            # a folder's time changes when a file is added to it or removed
            for name, is_file in [(name, False) for name in dirs] + [(name, True) for name in files]:
                with contextlib.suppress(FileNotFoundError):  # a running build's temporary file
                    stat = os.stat(os.path.join(folder, name), follow_symlinks=False)
                    newest = max(newest, stat.st_mtime)
                    size += stat.st_size if is_file else 0
        found.append(LeftBuild(Path(entry.path), newest, size))
    return sorted(found, key=lambda left: left.last_written, reverse=True)


def kept_failed_builds() -> int:
    """How many folders of builds that never published are kept (env ``REFORM_KEEP_FAILED_BUILDS``)."""
    value = os.environ.get(KEEP_FAILED_BUILDS_ENV, "").strip()
    if value and not value.isdigit():
        raise BuildError(f"{KEEP_FAILED_BUILDS_ENV}={value!r}: how many old build folders to keep (0 or more)")
    return int(value) if value else KEEP_FAILED_BUILDS


def prune_failed_builds(paths: Paths, keep: int | None = None, now: float | None = None) -> list[LeftBuild]:
    """Remove the folders of builds that never published and have not been written for
    :data:`ingest.lake.STALE_SECONDS` (a build still running, whose Airflow tasks may wait in a queue
    between steps, has written within that time), except the ``keep`` last written (default
    :data:`KEEP_FAILED_BUILDS`, env ``REFORM_KEEP_FAILED_BUILDS``), kept for inspection. The scratch of
    killed checks of landed files goes too. Returns what went."""
    keep = kept_failed_builds() if keep is None else keep
    now = time.time() if now is None else now
    stale = [left for left in left_builds(paths) if now - left.last_written >= lake.STALE_SECONDS]
    kept = {left.path for left in [left for left in stale if not left.scratch][:keep]}
    removed = []
    for left in stale:
        if left.path not in kept:
            shutil.rmtree(left.path, ignore_errors=True)
            removed.append(left)
    if removed:
        log.warning(
            "removed %d folder(s) of builds that never published, not written for a day (%.1f GB; the %d "
            "last written are kept for inspection, %s): %s",
            len(removed),
            sum(left.size_bytes for left in removed) / 1e9,
            keep,
            KEEP_FAILED_BUILDS_ENV,
            ", ".join(left.path.name for left in removed),
        )
    return removed


def build_path_for(paths: Paths, run_id: str) -> Path:
    return paths.builds / run_id / WAREHOUSE_FILE_NAME


def build_as_of_date(run_dir: Path, dbt_vars: dict[str, object] | None = None, today: date | None = None) -> str:
    """The date one build's monitoring is judged at (``YYYY-MM-DD``), fixed once for the whole build.

    dbt's ``reform_monitoring_as_of_date`` takes var ``as_of_date`` when given, else this date (env
    ``REFORM_AS_OF_DATE``). Without it each model would take today's date when it runs, and a build
    running across midnight in Shanghai would judge completeness and target progress at two dates.
    The first call for a build writes ``<run_dir>/as_of_date``: env ``REFORM_AS_OF_DATE`` when set (a
    backfill judged at a past date), else ``today``, else today in Shanghai. Every later step of the
    build, its shards and its Airflow tasks read that file.
    """
    given = (dbt_vars or {}).get("as_of_date")
    if given is not None and str(given).strip():
        return date.fromisoformat(str(given).strip()).isoformat()
    fixed = run_dir / AS_OF_FILE
    if not fixed.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = run_dir / f".{AS_OF_FILE}.{os.getpid()}"
        chosen = os.environ.get("REFORM_AS_OF_DATE", "").strip() or (today or datetime.now(SHANGHAI).date()).isoformat()
        tmp.write_text(date.fromisoformat(chosen).isoformat(), encoding="utf-8")
        with contextlib.suppress(FileExistsError):  # a parallel step fixed it first: its date stands
            os.link(tmp, fixed)
        tmp.unlink()
    return date.fromisoformat(fixed.read_text(encoding="utf-8").strip()).isoformat()


def prepare(
    paths: Paths, run_id: str, incremental: bool = False, dbt_vars: dict[str, object] | None = None
) -> tuple[Path, dict[str, int]]:
    """Create the build file and load the lake into its ``raw`` schema.

    ``incremental=True``: start from a copy of the published release and add only the lake files that
    arrived since, when that gives the same warehouse as a full build (see ``ingest/incremental.py``);
    otherwise, or when that is not safe, a full build. The plan goes beside the build file for the
    later steps. Returns the build file and the rows loaded (incremental: added) per table.
    """
    from ingest.intake import finish_interrupted_writes

    paths.ensure()
    finish_interrupted_writes(paths)  # else the lake may hold half a register, or a record without its rows
    target = build_path_for(paths, run_id)
    with working_in(target.parent, f"build {run_id}"):
        return _prepare(paths, run_id, target, incremental, dbt_vars)


@contextlib.contextmanager
def working_in(folder: Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s working lock while one try of a task builds in it, and empty what an earlier try
    left there (a retried task starts over). ``what`` names the work in messages ("build <id>").

    An earlier try whose process still runs (an Airflow task whose heartbeat was lost while its process
    went on) holds the lock: this try is refused (:class:`BuildRunning`) rather than build in the same
    folder beside it. Emptying the folder under that try would have left it writing the deleted build
    file, and then its plan, results or exports into this try's folder."""
    folder.mkdir(parents=True, exist_ok=True)  # a build's is claimed already when its id came from given_run_id
    lock = folder / WORKING_LOCK
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(lake.flock(lock, wait=False))
        except BlockingIOError:
            raise BuildRunning(
                f"{what}: an earlier try is still working on it (its process holds {lock}); "
                "let it end or stop it, then retry"
            ) from None
        left = [entry for entry in folder.iterdir() if entry.name != WORKING_LOCK]
        if left:
            log.warning("%s: an earlier try left its files; starting over", what)
        for entry in left:  # the lock file stays: a third try must meet this one's lock on it
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        yield


def _prepare(
    paths: Paths, run_id: str, target: Path, incremental: bool, dbt_vars: dict[str, object] | None
) -> tuple[Path, dict[str, int]]:
    """:func:`prepare` with the build folder held and empty."""
    from ingest import incremental as inc

    build_as_of_date(target.parent)
    copied = inc.BaseCopy(paths, target) if incremental else None  # while the lake is inventoried
    # from the inventory to the end of the load no reprocess rewrites a segment (it waits): else the build
    # read files taken out of their segments meanwhile, and published a lake no order of the two gives
    with lake.rewrite_lock(paths.lake, shared=True):
        try:
            inventoried_at = time.time()
            files = inc.inventory(paths.lake)  # what this build holds: taken before loading, loaded exactly
            if incremental:
                plan = inc.plan_build(paths, files, dbt_vars)
            else:
                plan = inc.Plan("full", "a full build was asked for", inc.fingerprint(dbt_vars))
            plan.inventoried_at = inventoried_at
        except BaseException:
            if copied is not None:
                copied.discard()
            raise
        config = duckdb_build_config(target.parent / "spill")
        if plan.incremental:
            counts = inc.start_from_release(paths, plan, target, files, config, copied)
        else:
            if copied is not None:
                copied.discard()
            with contextlib.closing(duckdb.connect(str(target), config=config)) as con:
                counts = lake.load_into(con, paths.lake, files={t: list(entries) for t, entries in files.items()})
                inc.record(con, plan, files)
    plan.write(target.parent)
    log.info("build %s (%s: %s): loaded %s", run_id, plan.mode, plan.reason, counts)
    return target, counts


def run_dbt(
    build_path: Path,
    args: list[str],
    dbt_vars: dict[str, object] | None = None,
    run_dir: Path | None = None,
    manifest: bool = True,
) -> int:
    """Run one dbt command against ``build_path`` in its own process; returns the number of nodes run.

    ``run_dir`` (default: the build file's folder) holds the build's as-of date (:func:`build_as_of_date`).
    ``manifest=False``: dbt writes no ``manifest.json`` (``ingest/dbt_run.py``: about 1 s less per command).

    A separate process because dbt-duckdb keeps its database open for the life of the process, and
    the validation step must open the same file afterwards. Output goes to ``<build>/dbt.log``.
    Raises :class:`BuildError` naming the failed nodes.
    """
    work = build_path.resolve().parent
    command = [
        *([dbt_executable()] if manifest else [sys.executable, "-m", "ingest.dbt_run"]),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    # dbt runs in the build's folder and opens the build file by its name, so that the profile dbt
    # hashes for partial parsing is the same every night: a build seeded with its base release's
    # parse (``target/partial_parse.msgpack``, see :func:`publish`) skips the full parse
    env = {
        **os.environ,
        "REFORM_DUCKDB_PATH": build_path.name,
        "REFORM_AS_OF_DATE": build_as_of_date(run_dir or work, dbt_vars),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    log_file = work / "dbt.log"
    with log_file.open("a", encoding="utf-8") as log:
        completed = subprocess.run(
            tied_to_parent(command), cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    results_file = work / "target" / "run_results.json"
    results = json.loads(results_file.read_text())["results"] if results_file.exists() else []
    failures = [
        f"{r['unique_id']}: {(r.get('message') or '').strip()[:300]}"
        for r in results
        if r.get("status") in ("error", "fail", "runtime error")
    ]
    if completed.returncode != 0 or failures:
        tail = "\n    ".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        detail = "\n  ".join(failures) or f"dbt exited with {completed.returncode}:\n    {tail}"
        raise BuildError(
            f"dbt {args[0]} failed; the published warehouse is unchanged:\n  {detail}\n  full log: {log_file}"
        )
    return len(results)


def validate(paths: Paths, run_id: str, build_path: Path) -> list[dict[str, object]]:
    """Run the GX checkpoints on the build and persist what they found.

    Writes to the lake and into the build: ``audit.validation_results`` (one row per expectation and
    run), ``audit.validation_failures`` (every row behind a failed expectation, with its reporting
    unit: in the lake every run's, in the build the last :data:`KEEP_FAILING_ROWS_RUNS` runs') and the
    view ``audit.unit_data_quality`` (per unit: files, quarantined rows, failed checks).
    """
    from ingest import validation
    from ingest.incremental import Plan

    plan = Plan.read(build_path.parent)
    suites = validation.SUITES
    local: list[validation.Suite] = []
    base: Path | None = None
    if plan.incremental:  # the tables this build wrote; the others keep their release's verdict
        suites = [s for s in suites if s.asset in set(plan.relations)]
        base = paths.releases / str(plan.base_run_id) / WAREHOUSE_FILE_NAME
        local = [s for s in suites if s.local_to] if base.exists() else []
        suites = [s for s in suites if s not in local]
    checked_in_shards: set[str] = set()
    if plan.shards:  # a roll-up: the rows of these tables stay in the shards, which checked them
        from ingest.shards import CLEANED

        checked_in_shards = {s.name for s in suites if s.asset in CLEANED}
        suites = [s for s in suites if s.name not in checked_in_shards]
    results_dir = paths.lake / "audit" / "gx_results"
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="touched-scratch") as pool:
        # the touched groups' scratch file is copied on DuckDB's threads while GX is imported and
        # validates the other suites, mostly in Python (province scale: 5 s of copying hidden)
        scratch = pool.submit(validation.touched_scratch, build_path, local) if local else None
        results = validation.validate_warehouse(
            build_path, run_id, results_dir=results_dir, docs_dir=paths.warehouse_dir / "docs" / "gx", suites=suites
        )
        failures = validation.collect_failures(build_path, run_id, results, suites)
        if plan.incremental:
            rerun = {s.name for s in suites + local}
            carried, carried_failures = _carry_forward(paths, str(plan.base_run_id), run_id, rerun)
            if scratch is not None:  # validated on the groups tonight touched, merged with the base's verdict
                base_results, base_failures = _base_verdict(paths, str(plan.base_run_id), {s.name for s in local})
                try:
                    touched, touched_failures = validation.validate_touched(
                        build_path, base, run_id, local, base_results, base_failures, results_dir, scratch.result()
                    )
                except ValueError as why:  # the base's verdict cannot be merged: the whole tables
                    log.warning("%s", why)
                    touched = validation.validate_warehouse(build_path, run_id, suites=local, results_dir=results_dir)
                    touched_failures = validation.collect_failures(build_path, run_id, touched, local)
                results, failures = results + touched, failures + touched_failures
            results, failures = results + carried, failures + carried_failures
    if checked_in_shards:
        from ingest.shards import shards_verdict

        verdict, verdict_failures = shards_verdict(paths, run_id, plan.shards, checked_in_shards)
        results, failures = results + verdict, failures + verdict_failures
    if results:
        lake.write_validation_results(paths.lake, run_id, results, failures)
    with contextlib.closing(duckdb.connect(str(build_path))) as con:
        con.execute("create schema if not exists audit")
        audit = paths.lake / "audit"
        load_history(con, "audit.validation_results", audit / "validation", lake.VALIDATION_SCHEMA, run_id)
        # not the runs validated after this one (a build beside it): else the file's latest run, which
        # status, the summary, the report and the unit view read, was another build's (found by a
        # concurrency campaign); the next build holds them
        con.execute(
            """
            delete from audit.validation_results where run_id in (
                select run_id from audit.validation_results group by run_id
                having max(validated_at) > (select max(validated_at) from audit.validation_results where run_id = $run)
            )
            """,
            {"run": run_id},
        )
        latest = con.execute(
            "select run_id from audit.validation_results group by run_id order by max(validated_at) desc limit ?",
            [KEEP_FAILING_ROWS_RUNS],
        ).fetchall()
        load_history(
            con,
            "audit.validation_failures",
            audit / "validation_failures",
            lake.VALIDATION_FAILURES_SCHEMA,
            run_id,
            runs={run for (run,) in latest} | {run_id},
        )
        con.execute(UNIT_DATA_QUALITY_VIEW)
        con.execute("checkpoint")
    return results


def load_history(
    con: duckdb.DuckDBPyConnection,
    table: str,
    folder: Path,
    schema: pa.Schema,
    run_id: str,
    runs: set[str] | None = None,
) -> None:
    """Make ``table`` hold the rows of every run's file in ``folder`` (``<run_id>.parquet``), or of the
    ``runs`` given only, ``run_id``'s as the file holds them now.

    A build copied from a release already holds the runs up to the release's: only the runs it lacks are
    read (a night reads its own file, not the whole history, which grows by a run a night), and the
    rows of runs not in ``runs`` are deleted. A table with other columns than ``schema`` (or none) is
    made anew from the files.
    """
    runs_files = {name.removesuffix(".parquet"): name for name in lake.table_file_names(folder)}  # no hidden file
    files = {run: str(folder / name) for run, name in runs_files.items() if runs is None or run in runs}
    if lake.table_columns(con, *table.split(".")) == schema.names:
        held = {run for (run,) in con.execute(f"select distinct run_id from {table}").fetchall()}
        con.execute(f"delete from {table} where run_id = ?", [run_id])
        if runs is not None:
            con.execute(f"delete from {table} where not list_contains(?, run_id)", [sorted(runs)])
        wanted = [path for run, path in files.items() if run not in held or run == run_id]
    else:
        empty = pa.Table.from_pylist([], schema=schema)  # noqa: F841 - read by DuckDB
        con.execute(f"create or replace table {table} as select * from empty")
        wanted = list(files.values())
    if wanted:  # by name: older runs' files lack later columns
        con.execute(f"insert into {table} by name select * from read_parquet(?, union_by_name = true)", [wanted])


def _base_verdict(
    paths: Paths, base_run_id: str, suites: set[str] | None = None
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The base release's results and failing rows (of ``suites``, default all), as the lake keeps them."""
    import pyarrow.parquet as pq

    found: list[list[dict[str, object]]] = []
    for folder in ("validation", "validation_failures"):
        path = paths.lake / "audit" / folder / f"{base_run_id}.parquet"
        rows = pq.read_table(path).to_pylist() if path.exists() else []
        found.append([r for r in rows if suites is None or r["suite"] in suites])
    return found[0], found[1]


def _carry_forward(
    paths: Paths, base_run_id: str, run_id: str, rerun: set[str]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The base release's results (and failing rows) of the suites this incremental run did not run, as
    this run's, marked with the run that produced them: each run's results stay a complete verdict."""
    carried: list[list[dict[str, object]]] = []
    for folder, rows in zip(("validation", "validation_failures"), _base_verdict(paths, base_run_id), strict=True):
        kept = [r for r in rows if r["suite"] not in rerun]
        for row in kept:
            row["run_id"] = run_id
            if folder == "validation":
                row["carried_from_run_id"] = row.get("carried_from_run_id") or base_run_id
        carried.append(kept)
    return carried[0], carried[1]


UNIT_DATA_QUALITY_VIEW = f"""
create or replace view audit.unit_data_quality as
with
latest_run as (select {lake.LATEST_VALIDATION_RUN} as run_id),
files as (
    select
        reporting_unit_code,
        count(*) as files_received,
        count(*) filter (where status = 'rejected') as files_rejected,
        sum(rows_received) as rows_received,
        sum(rows_accepted) as rows_accepted,
        sum(rows_quarantined) as rows_quarantined,
        max(received_at) as last_received_at
    from audit.ingest_files
    group by all
),
failures as (
    select
        reporting_unit_code,
        count(*) filter (where severity = 'critical') as rows_failing_critical_checks,
        count(*) filter (where severity = 'warning') as rows_with_warnings,
        string_agg(distinct rule, '; ' order by rule) as failed_rules
    from audit.validation_failures
    where run_id = (select run_id from latest_run)
    group by all
)
select
    u.reporting_unit_code,
    u.name_zh,
    u.region_code,
    coalesce(f.files_received, 0) as files_received,
    coalesce(f.files_rejected, 0) as files_rejected,
    coalesce(f.rows_received, 0) as rows_received,
    coalesce(f.rows_accepted, 0) as rows_accepted,
    coalesce(f.rows_quarantined, 0) as rows_quarantined,
    coalesce(v.rows_failing_critical_checks, 0) as rows_failing_critical_checks,
    coalesce(v.rows_with_warnings, 0) as rows_with_warnings,
    v.failed_rules,
    f.last_received_at
from marts.dim_reporting_unit as u
left join files as f using (reporting_unit_code)
left join failures as v using (reporting_unit_code)
"""


def _publish_lock(paths: Paths, wait: bool = True) -> contextlib.AbstractContextManager[None]:
    return lake.flock(paths.warehouse_dir / ".publish.lock", wait=wait)


class PublicationRunning(RuntimeError):
    """A publish or rollback is running now (it holds the publish lock): nothing to finish."""


def publish(paths: Paths, run_id: str, keep: int = KEEP_RELEASES) -> Path:
    """Make a validated build the published warehouse, atomically, and keep it as a release.

    Everything that reads what is published happens under the publish lock: the exports link files from
    the published exports, which a rollback or another publish would otherwise swap meanwhile (an
    incremental build then linked another release's partitions: found by a concurrency campaign).

    Run again after a kill (an Airflow retry of ``publish``), it finishes its own publication when the
    swap had come, and answers that the build is published when the kill came after everything: the
    build file is the published one by then, so there is no build left to publish."""
    from ingest.incremental import Plan

    build = build_path_for(paths, run_id)
    release = paths.releases / run_id / WAREHOUSE_FILE_NAME
    published_exports = paths.warehouse_dir / "exports"
    with _publish_lock(paths):
        interrupted = _finish_interrupted(paths)  # a publish or rollback killed midway: first
        if not build.exists():
            done = interrupted is not None and interrupted[1] and interrupted[0].run_id == run_id
            if done or (run_id in _history(paths) and current_release(paths) == run_id):
                log.warning("build %s was published already (its publish was interrupted); nothing more to do", run_id)
                return paths.published
            raise FileNotFoundError(f"no build {run_id} at {build}; run `reform build` first")
        wal = build.with_name(build.name + ".wal")
        if wal.exists():
            raise BuildError(f"the build {run_id} has an open write-ahead log ({wal}); it was not closed cleanly")
        plan = Plan.read(build.parent)
        _refuse_if_outdated(paths, run_id, plan)
        exports = build.parent / "exports"
        shutil.rmtree(exports, ignore_errors=True)  # of a try that died, perhaps from other exports
        if plan.incremental and exports_release(published_exports) == plan.base_run_id:
            # the marts it did not rebuild are its base release's, whose exports are the published ones
            rebuilt = {r.split(".", 1)[1] for r in plan.relations if r.startswith("marts.")}
            export_marts(build, only=rebuilt, published=published_exports, incremental=True)
            _link_missing_exports(published_exports, exports)
        else:  # a full build, or a rollback came after its base was chosen: the published exports are
            # another release's, so every mart is exported (partitions with the same rows still linked)
            export_marts(build, published=published_exports)
        _mark_exports(exports, run_id)
        publication = _Publication(
            run_id,
            [*_history(paths), run_id],
            build.parent / "target" / "static_index.html",
            build.parent / "exports",
            build_dir=build.parent,
            new_release=not release.exists(),
            keep=keep,
        )
        publication.begin(paths)
        release.parent.mkdir(parents=True, exist_ok=True)
        # read-only from now on: the published file and the release are one inode, so a connection
        # opened for writing by mistake would change the kept release too (DuckDB opens a read-only
        # file with read_only=True; a build starts from a copy made by shutil.copyfile, which is writable)
        os.chmod(build, 0o444)
        if not release.exists():
            os.link(build, release)  # same inode: a release costs no space until it is replaced
        os.replace(build, paths.published)
        publication.complete(paths)
    log.info("published %s → %s", run_id, paths.published)
    return paths.published


PUBLICATION_FILE = ".publishing"  # beside the warehouse while a publish or a rollback is under way


@dataclass
class _Publication:
    """What a publish or a rollback does once the published file is swapped (the one atomic step):
    the release's history, its documentation and exports beside the warehouse, and for a publish the
    release's incremental-build files, the build folder's removal and the pruning of old releases.

    Written to ``warehouse/.publishing`` before anything changes and removed when all is done, so that
    a publish or rollback killed midway is finished, or undone, by the next one
    (:func:`finish_interrupted_publication`): before, a kill after the swap left the warehouse beside
    the previous release's exports and out of its history, and the next rollback went to the wrong
    release; a kill before it left a release listed that was never published."""

    run_id: str
    history: list[str]
    docs: Path
    exports: Path
    build_dir: Path | None = None  # a publish's build folder; None for a rollback
    new_release: bool = False  # the release folder is this publish's own (undone if the swap never came)
    keep: int = 0  # releases kept after a publish (0: no pruning, a rollback)

    def begin(self, paths: Paths) -> None:
        record = {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}
        lake.replace_text(paths.warehouse_dir / PUBLICATION_FILE, json.dumps(record))

    def complete(self, paths: Paths) -> None:
        """Everything after the swap; each step can be done again after a kill."""
        release = paths.releases / self.run_id
        if self.build_dir is not None and self.build_dir.exists():
            parse = self.build_dir / "target" / DBT_PARSE_FILE  # the next incremental build starts from it
            if parse.exists():
                shutil.copyfile(parse, release / DBT_PARSE_FILE)
            from ingest.incremental import Plan

            Plan.read(self.build_dir).write(release)  # when its lake was inventoried: see _refuse_if_outdated
        _write_history(paths, self.history)
        _install_beside(paths, self.run_id, self.docs, self.exports)
        if self.build_dir is not None:
            shutil.rmtree(self.build_dir, ignore_errors=True)
        if self.keep:
            _prune_releases(paths, self.keep)
        (paths.warehouse_dir / PUBLICATION_FILE).unlink(missing_ok=True)

    def undo(self, paths: Paths) -> None:
        """The swap never happened: the release this publish made is not one (its build stays, as a
        killed build's does, and its retry publishes it)."""
        if self.new_release:
            shutil.rmtree(paths.releases / self.run_id, ignore_errors=True)
        (paths.warehouse_dir / PUBLICATION_FILE).unlink(missing_ok=True)


def finish_interrupted_publication(paths: Paths, wait: bool = True) -> str | None:
    """Finish a publish or rollback that was killed midway (``warehouse/.publishing``): when its
    release is the published file, what follows the swap is done; otherwise the attempt is undone.
    Returns the release's run id, or None when nothing was interrupted. A publication running now is
    waited for, or with ``wait=False`` raises :class:`PublicationRunning` (``reform releases``: at
    province scale a publish's exports take minutes, and a listing need not wait for them)."""
    finished = _finish_interrupted_publication(paths, wait)
    return finished[0].run_id if finished else None


def _finish_interrupted_publication(paths: Paths, wait: bool = True) -> tuple[_Publication, bool] | None:
    """The interrupted publication, and whether it was finished (True) or undone."""
    if not (paths.warehouse_dir / PUBLICATION_FILE).exists():
        return None
    try:
        with _publish_lock(paths, wait):
            return _finish_interrupted(paths)
    except BlockingIOError as running:
        raise PublicationRunning("a publish or rollback is running now") from running


def _finish_interrupted(paths: Paths) -> tuple[_Publication, bool] | None:
    """:func:`_finish_interrupted_publication` with the publish lock held."""
    journal = paths.warehouse_dir / PUBLICATION_FILE
    try:
        record = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    for key in ("docs", "exports", "build_dir"):
        record[key] = Path(record[key]) if record.get(key) else None
    publication = _Publication(**record)
    for leftover in paths.warehouse_dir.glob(".rollback-*.duckdb"):  # a rollback's link, before its swap
        leftover.unlink(missing_ok=True)
    finished = current_release(paths) == publication.run_id
    if finished:
        log.warning("finishing the interrupted publication of %s", publication.run_id)
        publication.complete(paths)
    else:
        log.warning("undoing the interrupted publication of %s: it was never published", publication.run_id)
        publication.undo(paths)
    for old in paths.warehouse_dir.glob(".exports-old-*"):  # swapped out by _install_beside
        shutil.rmtree(old, ignore_errors=True)
    return publication, finished


# dbt's unit tests check the models' logic on fixtures of their own, whatever the data: a build leaves
# them out, and ``make test`` runs them (tests/dbt/test_unit_tests.py), as dbt Labs recommends ("When to
# run unit tests": in development and CI, not in production builds). City scale: 6.5 s of a 33 s build.
BUILD_EXCLUDES = ("--exclude-resource-type", "unit_test")


def build_models(build_path: Path, dbt_vars: dict[str, object] | None = None) -> int:
    """``dbt build`` into the build file (without the unit tests: :data:`BUILD_EXCLUDES`), then its
    documentation as one static HTML page.

    An incremental build (its plan, see :func:`prepare`) builds only the models its new rows and the
    build date reach. It also leaves out the tests of those marts' keys, which their GX key suites check
    before publishing (``Plan.skipped_tests``). The documentation is the release's, so it writes no dbt
    manifest."""
    from ingest.incremental import Plan

    plan = Plan.read(build_path.parent)
    if plan.incremental:
        if not plan.models:
            return 0
        command = ["build", "--select", *plan.models, *BUILD_EXCLUDES]
        if plan.skipped_tests:
            command += ["--exclude", *plan.skipped_tests]
        return run_dbt(build_path, command, dbt_vars, manifest=False)
    nodes = run_dbt(build_path, ["build", *BUILD_EXCLUDES], dbt_vars)
    run_dbt(build_path, ["docs", "generate", "--static"], dbt_vars)
    return nodes


EXPORT_OPTIONS = "format parquet, compression zstd, compression_level 1"
# The largest marts are exported as Hive-partitioned folders, ``<mart>/period_id=<period>/data_0.parquet``,
# so that a night that changed a few periods rewrites only those and hard-links the others from the
# published export (each partition's row count and digest are in ``<mart>/_partitions.json``).
PARTITIONED_EXPORTS = {"fct_indicator_observation": "period_id", "fct_indicator_observation_current": "period_id"}
PARTITION_MANIFEST = "_partitions.json"
# A partitioned mart that is a row filter of another, partitioned by the same column: where the other's
# partition did not change, neither did its own, so its digest is not computed again
ROW_FILTER_OF = {"fct_indicator_observation_current": "fct_indicator_observation"}
# In an incremental build, these marts differ from the base release only in the partitions of tonight's
# submissions (their partition column's values, ``incremental.touched_sql``): the model replaces whole
# version histories (delete+insert on a key that holds the partition column) of the submissions in
# tonight's files only (see its SQL), and the build's other rows are its base release's. Every other
# partition holds the published rows, and is linked without computing its digest (the province's
# observations: the digest of 9.7 million rows each night, about 1-2 s).
PARTITIONS_TONIGHT = {"fct_indicator_observation"}


def export_marts(
    build_path: Path,
    out: Path | None = None,
    only: set[str] | None = None,
    published: Path | None = None,
    incremental: bool = False,
) -> Path:
    """Parquet copies of every mart (or of the marts in ``only``; default folder: beside the build), for
    tools that cannot read DuckDB. A partition of a partitioned mart whose rows are those of the same
    partition in the ``published`` exports is linked from there, not written again. ``incremental``:
    the build is an incremental build on the release ``published`` was exported from, so the marts of
    :data:`PARTITIONS_TONIGHT` differ from it only in the partitions their query names."""
    out = out or build_path.parent / "exports"
    out.mkdir(parents=True, exist_ok=True)
    # zstd level 1: at province scale faster than the default level 3 and no larger (the observation
    # export: 6 s instead of 9, 488 MB instead of 512); rows in any order (a table has none), so that
    # DuckDB writes row groups in parallel; the build's memory limit (a partitioned write buffers
    # every partition: 5 GB of RSS for the province's observations without it)
    from ingest.incremental import touched_sql

    spill = tempfile.TemporaryDirectory(prefix=".spill-", dir=out.parent)
    config = duckdb_build_config(Path(spill.name))
    with spill, contextlib.closing(duckdb.connect(str(build_path), read_only=True, config=config)) as con:
        con.execute("set enable_progress_bar = false")  # no bars in the task logs
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
        unchanged: dict[str, set[object]] = {}  # per partitioned mart, the partitions linked
        for (table,) in tables:
            if only is not None and table not in only:
                continue
            column = PARTITIONED_EXPORTS.get(table)
            if column is None:
                con.execute(f"copy marts.{table} to '{out / table}.parquet' ({EXPORT_OPTIONS})")
            else:
                tonight = touched_sql((column,)) if incremental and table in PARTITIONS_TONIGHT else None
                unchanged[table] = _export_partitioned(
                    con,
                    table,
                    column,
                    out / table,
                    published / table if published else None,
                    unchanged.get(ROW_FILTER_OF.get(table, ""), set()),
                    {value for (value,) in con.execute(tonight).fetchall()} if tonight else None,
                )
    return out


def _export_partitioned(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    folder: Path,
    published: Path | None,
    same_as_published: set[object] | None = None,
    may_differ: set[object] | None = None,
) -> set[object]:
    """``marts.<table>`` as a Hive-partitioned folder by ``column``: the partitions whose row count and
    digest (the sum of the rows' hashes) equal the published ones are hard-linked, the rest written.

    ``same_as_published``: partitions known to hold the published rows (see :data:`ROW_FILTER_OF`), linked
    without a digest when the published export has them; ``may_differ``: the only partitions that can
    differ from the published ones (see :data:`PARTITIONS_TONIGHT`), every other one is known to hold
    the published rows. Returns the partitions linked."""
    old = _read_partition_manifest(published, column) if published else {}
    if may_differ is not None:
        same_as_published = {*(same_as_published or ()), *(value for value in old if value not in may_differ)}
    known = {value: old[value] for value in same_as_published or () if value in old}
    where, params = "", None
    if known:  # NULL is its own partition, and in no IN list
        where = f" where {column} not in (select unnest($1)) or ({column} is null and not $2)"
        params = [[v for v in known if v is not None] or [""], None in known]
    rows = con.execute(
        f"select {column}, count(*), sum(hash(t))::varchar from marts.{table} t{where} group by 1", params
    ).fetchall()
    digests = {value: {"rows": n, "digest": digest} for value, n, digest in rows}
    digests |= {value: {"rows": entry["rows"], "digest": entry["digest"]} for value, entry in known.items()}
    linked = {
        value: old[value]
        for value, digest in digests.items()
        if value in old and {k: old[value][k] for k in ("rows", "digest")} == digest
    }
    written = [value for value in digests if value not in linked]
    shutil.rmtree(folder, ignore_errors=True)  # left by a publish that failed: DuckDB writes only into a new folder
    folder.mkdir(parents=True)
    if written:
        where, params = "", None
        if linked:  # NULL is its own partition, and in no IN list
            where = f" where {column} in (select unnest($1)) or ({column} is null and $2)"
            params = [[v for v in written if v is not None], None in written]
        con.execute(
            f"copy (select * from marts.{table}{where}) to '{folder}' "
            f"({EXPORT_OPTIONS}, partition_by ({column}), write_partition_columns true)",
            params,
        )
    files = _partition_files(folder, column, set(written))
    for value, entry in linked.items():
        assert published is not None
        for name in entry["files"]:
            _link(published / name, folder / name)
        files[value] = entry["files"]
    manifest = {
        "column": column,
        "partitions": {str(value): {**digests[value], "files": files[value]} for value in sorted(digests, key=str)},
    }
    (folder / PARTITION_MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    log.info("exported %s: %d partitions written, %d linked", table, len(written), len(linked))
    return set(linked)


EXPORTS_RELEASE_FILE = ".run_id"  # in the exports folder: the release they were exported from


def _mark_exports(folder: Path, run_id: str) -> None:
    """Record which release ``folder``'s exports are (renamed into place: the folder may hold links)."""
    lake.replace_text(folder / EXPORTS_RELEASE_FILE, run_id)


def exports_release(folder: Path) -> str | None:
    """The release the exports in ``folder`` were exported from (None when unknown)."""
    try:
        return (folder / EXPORTS_RELEASE_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _partition_files(folder: Path, column: str, values: set[object]) -> dict[object, list[str]]:
    """The files DuckDB wrote for each partition value (its folders are ``<column>=<value>``)."""
    by_name = {f"{column}={'NULL' if v is None else v}": v for v in values}
    files: dict[object, list[str]] = {}
    for part in sorted(folder.iterdir()):
        if part.is_dir():
            if unquote(part.name) not in by_name:
                raise BuildError(f"the export {folder} has a partition folder {part.name} no value of {column} names")
            files[by_name[unquote(part.name)]] = sorted(f"{part.name}/{f.name}" for f in part.glob("*.parquet"))
    if set(files) != values:
        raise BuildError(f"the export {folder} lacks the partitions of {sorted(map(str, values - set(files)))}")
    return files


def _read_partition_manifest(folder: Path, column: str) -> dict[object, dict]:
    """The published partitions of a mart, by value (none if it was not exported partitioned by ``column``)."""
    try:
        manifest = json.loads((folder / PARTITION_MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    if manifest.get("column") != column:
        return {}
    return {
        value: entry
        for value, entry in manifest["partitions"].items()
        if all((folder / name).is_file() for name in entry["files"])
    }


def _link_missing_exports(published: Path, exports: Path) -> None:
    """Hard-link the published exports that ``exports`` lacks (never written in place: safe to share)."""
    if not published.exists():
        return
    for path in published.iterdir():
        if (exports / path.name).exists() or path.name.startswith("."):
            continue
        if path.is_dir():  # a partitioned mart: every file of the folder
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    _link(file, exports / file.relative_to(published))
        elif path.suffix == ".parquet":
            _link(path, exports / path.name)


def _link(source: Path, target: Path) -> None:
    """A hard link of a published export file (never written in place: safe to share), its folder made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(source, target)


def _install_beside(paths: Paths, run_id: str, docs: Path, exports: Path) -> None:
    """Publish documentation and Parquet exports next to the warehouse (each swapped in by rename)."""
    if docs.exists():
        target = paths.warehouse_dir / "docs" / "dbt" / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        kept = paths.releases / run_id / "docs.html"
        if docs != kept:
            shutil.copyfile(docs, kept)
        shutil.copyfile(docs, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)
    if exports.exists():
        current, old = paths.warehouse_dir / "exports", paths.warehouse_dir / f".exports-old-{run_id}"
        if current.exists():
            os.replace(current, old)
        os.replace(exports, current)
        shutil.rmtree(old, ignore_errors=True)


def _prune_releases(paths: Paths, keep: int) -> None:
    """Delete all but the ``keep`` releases published last; neither the published one nor the one a
    rollback returns to (:func:`_in_effect_before`: after rolling back several times and publishing
    again, it can be older than the ``keep`` last) is ever deleted."""
    current = current_release(paths)
    protected = {current, _in_effect_before(_history(paths), current)[0]}
    for old in list_releases(paths)[keep:]:
        if old not in protected:
            shutil.rmtree(paths.releases / old, ignore_errors=True)


def _refuse_if_outdated(paths: Paths, run_id: str, plan: Plan) -> None:
    """Refuse to publish a build over a release whose lake was inventoried after this build's: that one
    holds everything this one does and more (builds of reform_nightly, reform_backfill and the sharded
    build can overlap; the one started first may finish last). A rollback is not refused: it publishes
    a chosen release on purpose."""
    from ingest.incremental import Plan

    current = current_release(paths)
    if current is None or current == run_id or not plan.inventoried_at:
        return
    theirs = Plan.read(paths.releases / current).inventoried_at
    if theirs > plan.inventoried_at:
        shown = datetime.fromtimestamp(theirs, UTC).strftime("%H:%M:%S")
        raise BuildError(
            f"build {run_id} NOT published: the published release {current} read the lake later (at {shown} "
            f"UTC), so it holds all this build holds and more; a build that overlapped a later one. The "
            f"published warehouse is unchanged; run the build again to include anything newer."
        )


def list_releases(paths: Paths) -> list[str]:
    """Release run ids, the last published first.

    Ordered by when each was published (its folder is written only then), not by name: a run id given
    with ``reform build --run-id`` need not sort after the timestamps of :func:`new_run_id`.
    """
    if not paths.releases.exists():
        return []
    published = [
        (folder.stat().st_mtime_ns, folder.name)
        for folder in paths.releases.iterdir()
        if (folder / WAREHOUSE_FILE_NAME).exists()
    ]
    return [name for _mtime, name in sorted(published, reverse=True)]


# beside releases/ (which holds only releases): the releases in effect, one per line, the current last
HISTORY_FILE = ".release-history"


def _history(paths: Paths) -> list[str]:
    """The published releases as a stack: each publish pushes its run id, each rollback without a name
    pops the current one. As written: a release pruned since stays in it (a rollback to it is refused,
    never sent on to another release, see :func:`rollback`)."""
    path = paths.warehouse_dir / HISTORY_FILE
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def published_runs(paths: Paths) -> set[str]:
    """The run ids published here that are still on record: the kept releases and the history's (a
    build validated and then refused, failed or killed before its publish is in neither)."""
    return set(_history(paths)) | set(list_releases(paths))


def _in_effect_before(history: list[str], current: str | None) -> tuple[str | None, list[str]]:
    """The release a rollback without a name returns to (the one below the current one in the stack),
    and the stack once it is the current one; (None, []) when the stack goes no further back."""
    rest = history[:-1] if history and history[-1] == current else []
    before = next((r for r in reversed(rest) if r != current), None)
    return before, (rest[: len(rest) - rest[::-1].index(before)] if before is not None else [])


def _write_history(paths: Paths, history: list[str]) -> None:
    paths.warehouse_dir.mkdir(parents=True, exist_ok=True)
    lake.replace_text(paths.warehouse_dir / HISTORY_FILE, "".join(f"{run_id}\n" for run_id in history[-100:]))


def rollback(paths: Paths, run_id: str | None = None) -> str:
    """Publish an earlier release again: ``run_id``, or the one in effect before the current one. The
    releases in effect form a stack (each publish pushes, each rollback pops), so a second rollback goes
    one further back, and a rollback after a newer publish goes back to the release rolled back to, not
    to the one rolled back from. Without that record (a home older than it): the release published
    before the current one."""
    with _publish_lock(paths):  # from reading what is published to the swap
        interrupted = _finish_interrupted(paths)  # killed midway: its history first
        if interrupted is not None:
            publication, finished = interrupted
            if finished and publication.build_dir is None and run_id in (None, publication.run_id):
                # a rollback killed after its swap, run again: it is done now, one step back, not two
                log.warning("the interrupted rollback to %s is finished; not rolling back further", publication.run_id)
                return publication.run_id
        return _roll_back(paths, run_id)


def _roll_back(paths: Paths, run_id: str | None) -> str:
    """:func:`rollback` with the publish lock held: a build published while a rollback read the history
    and exported was silently undone (the rollback went to the release before the one it had read as
    current, and wrote a history without the new build)."""
    releases = list_releases(paths)
    current = current_release(paths)
    history = _history(paths)
    if run_id is None:
        before, popped = _in_effect_before(history, current)
        if before is not None:
            if before not in releases:
                raise FileNotFoundError(
                    f"the release in effect before {current} was {before}, which is no longer kept; name the "
                    f"release to publish (reform rollback RUN_ID): {', '.join(releases)}"
                )
            run_id, history = before, popped
        else:  # the record goes no further back: the release published before the current one
            earlier = releases[releases.index(current) + 1 :] if current in releases else releases
            if not earlier:
                raise FileNotFoundError(
                    f"there is no release in effect before {current}; releases: {', '.join(releases) or 'none'}"
                    if current
                    else "there is no release to roll back to"
                )
            run_id = earlier[0]
            history = [run_id]
    else:
        history = [*history, run_id]
    if run_id not in releases:  # a name from the list, never a path
        raise FileNotFoundError(f"no release {run_id}; releases: {', '.join(releases) or 'none'}")
    source = paths.releases / run_id / WAREHOUSE_FILE_NAME
    exports_dir = paths.warehouse_dir / f".exports-new-{run_id}"
    shutil.rmtree(exports_dir, ignore_errors=True)  # left by a rollback that failed
    exports = export_marts(source, exports_dir, published=paths.warehouse_dir / "exports")
    _mark_exports(exports, run_id)
    publication = _Publication(run_id, history, source.with_name("docs.html"), exports)
    publication.begin(paths)
    tmp = paths.warehouse_dir / f".rollback-{run_id}.duckdb"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.link(source, tmp)
    os.replace(tmp, paths.published)
    publication.complete(paths)
    return run_id


def current_release(paths: Paths) -> str | None:
    """The release whose file is the published one (same inode), if any."""
    if not paths.published.exists():
        return None
    inode = paths.published.stat().st_ino
    for run_id in list_releases(paths):
        if (paths.releases / run_id / WAREHOUSE_FILE_NAME).stat().st_ino == inode:
            return run_id
    return None


def build(
    paths: Paths,
    run_id: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
    dbt_vars: dict[str, object] | None = None,
    incremental: bool = False,
) -> BuildReport:
    """What the nightly DAG runs, in one call: prepare → dbt build → validate → publish.

    ``incremental=True``: add what arrived since the published release instead of rebuilding it all,
    when that is safe (else a full build; the reason is reported). See ``ingest/incremental.py``."""
    from ingest.incremental import Plan

    run_id = given_run_id(paths, run_id)
    report = BuildReport(run_id, build_path_for(paths, run_id))
    started = time.perf_counter()
    progress(f"[build {run_id}] loading the lake into the build file")
    report.build_path, report.raw_counts = prepare(paths, run_id, incremental, dbt_vars)
    report.plan = Plan.read(report.build_path.parent)
    progress(f"[build] {report.plan.mode} build: {report.plan.reason}")
    report.timings["prepare"] = time.perf_counter() - started

    step = time.perf_counter()
    progress(
        f"[build] dbt build of {len(report.plan.models)} models and their tests"
        if report.plan.incremental
        else "[build] dbt build (seeds, models, tests) and docs"
    )
    report.dbt_nodes = build_models(report.build_path, dbt_vars)
    report.timings["dbt"] = time.perf_counter() - step

    step = time.perf_counter()
    progress("[build] Great Expectations checkpoints")
    report.validations = validate(paths, run_id, report.build_path)
    report.timings["validate"] = time.perf_counter() - step

    if report.critical_failures:
        names = "; ".join(
            f"{v['suite']}: {v['expectation']} ({v['unexpected_count']} unexpected)" for v in report.critical_failures
        )
        raise PublishBlocked(
            f"critical validation failed, build {run_id} NOT published; the previous warehouse stays in place. "
            f"Failed: {names}. Details: audit.validation_results in {report.build_path}",
            report.critical_failures,
        )
    step = time.perf_counter()
    report.published_path = publish(paths, run_id)
    report.timings["publish"] = time.perf_counter() - step
    progress(f"[build] published {report.published_path}")
    return report
