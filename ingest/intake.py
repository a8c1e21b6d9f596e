"""Receive files: hash, archive untouched, read, normalise, write to the lake, report.

This is the I/O edge around the pure modules (:mod:`readers`, :mod:`submissions`). One call handles
one file and never raises for a bad file: a file that cannot be read is recorded as rejected with its
reason, so one broken upload never blocks the others. Only a failure of the system itself (disk full,
lake unwritable) raises.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import perf_counter, process_time

from ingest import lake
from ingest.config import Paths
from ingest.normalize import NormalizationError, parse_date, parse_period, period_bounds
from ingest.readers import SUPPORTED_SUFFIXES, ReadError, read_file
from ingest.reference import Reference, load_reference
from ingest.submissions import FileLevelError, process_tables, scrub_personal_data

log = logging.getLogger(__name__)

FORM_TIME_OF_DAY = time(18, 0)  # a form dated D counts as received at the end of D's working day
SHANGHAI_OFFSET = timedelta(hours=8)  # Asia/Shanghai has no daylight saving time
DEMO_PSEUDONYM_KEY = "demo-only-pseudonymisation-key-change-me"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file; printed by ``reform ingest`` and returned by the Airflow task."""

    file_name: str
    sha256: str
    status: str  # loaded | loaded_with_quarantine | rejected | duplicate | already_processed (taken by another run)
    rows_received: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    reporting_unit_code: str | None = None
    period_id: str | None = None
    error_reason: str | None = None
    error: str | None = None
    lake_name: str | None = None  # the lake files holding its outputs: its sha256, or its segment's name
    source: str = "submissions"  # a unit submission, or the microdata kind (workers, trainings, …)
    # the time the file took in its worker: wall, and CPU of all the worker's threads (DuckDB's too); a
    # form's share of its segment's write is counted with it. Set by ingest_batch.
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    # a microdata file's wall seconds per step of its load (scan, transcode, read, check, dedupe, write:
    # :class:`ingest.microdata.StepClock`); empty for a form
    steps: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)

    def timed(self, wall: float, cpu: float) -> FileOutcome:
        return replace(self, seconds=wall, cpu_seconds=cpu)


def by_source(outcomes: Iterable[FileOutcome]) -> dict[str, dict[str, float]]:
    """Per source (``submissions`` or a microdata kind): files, rows received, and the wall and CPU
    seconds its files took in the workers, with CPU microseconds per row: where an ingest's time went."""
    table: dict[str, dict[str, float]] = {}
    for o in outcomes:
        entry = table.setdefault(o.source, {"files": 0, "rows": 0, "seconds": 0.0, "cpu_seconds": 0.0})
        entry["files"] += 1
        entry["rows"] += o.rows_received
        entry["seconds"] += o.seconds
        entry["cpu_seconds"] += o.cpu_seconds
    for entry in table.values():
        rows = entry["rows"]
        entry["cpu_microseconds_per_row"] = round(entry["cpu_seconds"] / rows * 1e6, 2) if rows else 0.0
        entry["seconds"] = round(entry["seconds"], 1)
        entry["cpu_seconds"] = round(entry["cpu_seconds"], 1)
    return dict(sorted(table.items(), key=lambda item: -item[1]["cpu_seconds"]))


def file_format(file_name: str) -> str:
    """The type a file was received as, from the name it was received under (its archived copy, which a
    reprocess reads, may be named ``<sha256>.bin``)."""
    return Path(file_name).suffix.lower().lstrip(".") or "unknown"


def recorded_name(file_name: str) -> str:
    """The name a received file is recorded under (the lake, the warehouse, the task's outcome): its
    own, with anything shaped like an ID number or a phone number replaced as in every other stored
    text. A roster saved as ``110101199003071234_培训.csv`` would otherwise put the number in the
    warehouse in the clear. The same name always gives the same recorded name (a keyed pseudonym), and
    a recorded name is its own (a reprocess records an old lake's names as today's code would)."""
    return scrub_personal_data(readable_name(file_name), make_pseudonymiser())


def readable_name(name: str) -> str:
    """A file name as its sender wrote it. A name that is not UTF-8 (GBK, as some Windows SFTP and
    Samba clients write Chinese names; Python holds its bytes as lone surrogates, which no Parquet
    file, XCom or terminal takes) is read as GB18030, else with U+FFFD for the bytes no encoding reads."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        raw = os.fsencode(name)
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def rename_unreadable(files: Iterable[Path]) -> list[Path]:
    """``files``, those whose names are not UTF-8 renamed in place to :func:`readable_name` (the
    ingest DAG passes paths between tasks as JSON, which cannot hold such a name: one file blocked the
    whole inbox). A name already taken gets the file's hash prefix; a file that cannot be renamed is
    left, with an error in the log."""
    ready = []
    for path in files:
        name = readable_name(path.name)
        if name == path.name:
            ready.append(path)
            continue
        target = path.with_name(name)
        if target.exists():
            target = path.with_name(f"{target.stem}-{sha256_of(path)[:8]}{target.suffix}")
        try:
            os.rename(path, target)
        except OSError as error:
            log.error("%s: its name is not UTF-8 and it cannot be renamed (%s); left in the inbox", target.name, error)
            continue
        log.warning("%s: renamed from a name that is not UTF-8 (read as GB18030)", target.name)
        ready.append(target)
    return ready


def received_name(path: Path) -> str:
    """The name ``path`` is recorded under when it is received (:func:`recorded_name`)."""
    return recorded_name(path.name)


# the steps of a microdata file's load, in the order they run (ingest.microdata.StepClock names them)
LOAD_STEPS = ("scan", "transcode", "read", "check", "dedupe", "write")


def steps_by_source(outcomes: Iterable[FileOutcome]) -> dict[str, dict[str, float]]:
    """Per microdata source: the wall seconds each step of its files' loads took in the workers (scan,
    transcode, read, check, dedupe, write; see :class:`ingest.microdata.StepClock`): where in a large
    file's load the time went. Every source has every step any source had (0.0 where its files had
    none), in the order they run. Forms have no steps and no entry."""
    table: dict[str, dict[str, float]] = {}
    for o in outcomes:
        for step, seconds in o.steps.items():
            steps = table.setdefault(o.source, {})
            steps[step] = steps.get(step, 0.0) + seconds
    seen = {step for steps in table.values() for step in steps}
    order = [*(s for s in LOAD_STEPS if s in seen), *sorted(seen - set(LOAD_STEPS))]
    return {source: {step: round(steps.get(step, 0.0), 1) for step in order} for source, steps in table.items()}


def step_seconds(steps: dict[str, float]) -> str:
    """``scan 1.2 s, read 3.4 s, …``: a load's steps as the CLI and the logs print them."""
    return ", ".join(f"{step} {seconds:.1f} s" for step, seconds in steps.items())


class _Clock:
    """Wall and CPU seconds since it was started (CPU: every thread of this process)."""

    def __init__(self) -> None:
        self.wall, self.cpu = perf_counter(), process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = perf_counter(), process_time()
        elapsed = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return elapsed


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive(path: Path, sha256: str, suffix: str, paths: Paths, move: bool = False) -> Path:
    """Keep a received file's bytes as ``archive/<sha256><suffix>`` (once: the same bytes are one archive file).

    ``move=True`` (the inbox file is removed once it is ingested): a hard link, not a copy; the inbox
    name is removed by the caller after the commit, so the archive then holds the only name of the bytes
    that were hashed. A copy where a link cannot be made (another file system)."""
    archive_path = paths.archive / f"{sha256}{suffix}"
    if not archive_path.exists():
        tmp = archive_path.with_name(f".tmp-{os.getpid()}-{sha256}")
        tmp.unlink(missing_ok=True)  # left by a crashed run of this process id
        if not (move and _linked(path, tmp)):
            shutil.copyfile(path, tmp)
        os.replace(tmp, archive_path)
    return archive_path


def drop_superseded_archive(paths: Paths, prior: dict[str, object] | None, record: dict[str, object]) -> None:
    """After a rejected file was read again under a new name (:func:`ingest.lake.read_again`) and
    committed: its first archived copy, the same bytes under the old suffix, goes."""
    if prior is None or prior["archive_path"] == record["archive_path"]:
        return
    old = Path(str(prior["archive_path"]))
    (old if old.is_absolute() else paths.home / old).unlink(missing_ok=True)


def _linked(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        return False
    return True


def pseudonym_key() -> bytes:
    """The HMAC key for pseudonyms: ``REFORM_PSEUDONYM_KEY``, else a demo key (with a warning, once)."""
    key = os.environ.get("REFORM_PSEUDONYM_KEY")
    if not key:
        _warn_demo_key()
        key = DEMO_PSEUDONYM_KEY
    return key.encode()


@functools.cache
def _warn_demo_key() -> None:
    log.warning("REFORM_PSEUDONYM_KEY is not set; using the demo key. Set it in production.")


def make_pseudonymiser(key: bytes | None = None):
    secret = key or pseudonym_key()

    def pseudonymise(value: str) -> str:
        return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]

    return pseudonymise


def pseudonym_sql_macro(name: str, key: bytes | None = None) -> str:
    """The same pseudonym as :func:`make_pseudonymiser`, as a DuckDB macro ``name(s)`` (HMAC-SHA256 of
    RFC 2104 written with DuckDB's ``sha256``): about ten times faster than calling Python per row, so
    that ten million ID numbers are pseudonymised inside the read. Tested equal to :mod:`hmac`."""
    secret = key or pseudonym_key()
    block = 64  # SHA-256's block size; a longer key is hashed first (RFC 2104)
    padded = (hashlib.sha256(secret).digest() if len(secret) > block else secret).ljust(block, b"\0")
    inner = bytes(b ^ 0x36 for b in padded).hex()
    outer = bytes(b ^ 0x5C for b in padded).hex()
    return (
        f"create or replace macro {name}(s) as "
        f"left(sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(s)))), 32)"
    )


# names a file has while it is still being uploaded or saved (WinSCP's .filepart, browsers' .crdownload, …)
IN_PROGRESS_SUFFIXES = (".part", ".partial", ".filepart", ".crdownload", ".tmp", ".upload")


def discover(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under the given files or folders, in a stable order; hidden files (``.name``, as rsync and
    many uploaders write before renaming), Office lock files and files still being uploaded skipped."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if (
                    child.is_file()
                    and not child.name.startswith((".", "~$"))
                    and not child.name.lower().endswith(IN_PROGRESS_SUFFIXES)
                ):
                    yield child
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"{path} does not exist")


def inbox_files(paths: Paths) -> tuple[list[Path], list[Path]]:
    """The inbox's files as (waiting, already ingested): ingested means that ingesting them now would
    answer ``duplicate`` (an ingest without ``consume`` leaves the files it loaded where they are)."""
    from ingest.microdata import microdata_kind

    files = list(discover([paths.inbox])) if paths.inbox.exists() else []
    # a file whose reprocessing died midway is still received (the next ingest or build finishes it)
    records = [*lake.read_markers(paths.lake), *lake.pending_reprocesses(paths.lake)] if files else []
    by_sha = {r["file_sha256"]: r for r in records}
    sizes = {r["size_bytes"] for r in records}
    by_name = {(r["file_name"], r["size_bytes"]): r for r in records}
    waiting: list[Path] = []
    ingested: list[Path] = []
    for path in files:
        try:
            stat = path.stat()
            prior = None
            if stat.st_size in sizes:  # else no received file has these bytes: no need to read them
                # the file received under this name and size, unchanged since: not read again (status must
                # stay quick with large rosters left in the inbox); else its hash decides
                named = by_name.get((received_name(path), stat.st_size))
                modified = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
                prior = named if named and modified <= named["received_at"] else by_sha.get(sha256_of(path))
        except OSError:  # unreadable: an ingest would try it
            prior = None
        read = prior is None or lake.read_again(prior, received_name(path), microdata_kind(path) or "submissions")
        (waiting if read else ingested).append(path)
    return waiting, ingested


def ingest_file(
    path: Path,
    paths: Paths,
    reference: Reference | None = None,
    consume: bool = False,
    now: datetime | None = None,
    reprocess_as: dict[str, object] | None = None,
    historical: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> FileOutcome:
    """Ingest one file into the lake. ``consume=True`` removes it from the inbox once it is safe.

    ``reprocess_as`` (the file's earlier audit record) re-reads an archived file with today's code,
    keeping its name and receipt time, and replaces what the lake held for it.

    ``historical=True`` is for loading submissions received before this system existed (a migration,
    or the demo's sample history): the receipt time is taken from the form's 填报日期 (as 18:00
    Asia/Shanghai) when it has one, and the audit record says so (``received_at_source = 'form'``).
    """
    paths.ensure()
    from ingest.microdata import ingest_microdata_file, microdata_kind  # here: microdata imports intake

    if (kind := microdata_kind(path, reprocess_as)) is not None:
        return ingest_microdata_file(path, kind, paths, progress, consume=consume, now=now, reprocess_as=reprocess_as)
    sha256 = sha256_of(path)
    name = received_name(path)
    rewrites = functools.partial(lake.replaces_outputs, paths.lake, sha256, name, "submissions", reprocess_as)
    # the hash's lock: the same bytes sent twice, ingested by two workers at once
    with lake.hash_locks(paths.lake, [sha256], rewrites):
        return _ingest_submission(path, paths, sha256, reference, consume, now, reprocess_as, historical)


def _ingest_submission(
    path: Path,
    paths: Paths,
    sha256: str,
    reference: Reference | None,
    consume: bool,
    now: datetime | None,
    reprocess_as: dict[str, object] | None,
    historical: bool,
) -> FileOutcome:
    prior = None if reprocess_as is not None else lake.prior_receipt(paths.lake, sha256)
    if prior is not None and not lake.read_again(prior, received_name(path), "submissions"):
        return _duplicate(path, sha256, prior, consume)
    received, outcome = _read_submission(path, paths, sha256, reference, now, reprocess_as, historical, consume)
    if reprocess_as is not None or prior is not None:  # read first: a failed read leaves the old outputs
        lake.remove_file_outputs(paths.lake, sha256)
    lake.write_file_outputs(paths.lake, sha256, "submissions", received.rows, received.quarantine, received.record)
    drop_superseded_archive(paths, prior, received.record)
    if consume:
        path.unlink(missing_ok=True)  # or taken by another ingest run meanwhile
    return outcome


def _taken(path: Path) -> FileOutcome:
    """A file gone from the inbox before this run read it: another ingest run took it (two runs over one
    inbox, e.g. an operator's beside the scheduled one). Before, the run stopped there with a system error."""
    log.info("%s: gone before this run read it (taken by another ingest run)", path.name)
    return FileOutcome(
        received_name(path),
        "",
        "already_processed",
        error="gone from the inbox before this run read it: another ingest run took it (see reform status)",
    )


def _duplicate(path: Path, sha256: str, marker: dict[str, object], consume: bool) -> FileOutcome:
    if consume:
        path.unlink(missing_ok=True)  # or taken by another ingest run meanwhile
    return FileOutcome(
        received_name(path),
        sha256,
        "duplicate",
        reporting_unit_code=marker["reporting_unit_code"],  # type: ignore[arg-type]
        period_id=marker["period_id"],  # type: ignore[arg-type]
        error=f"already ingested as {marker['file_name']} on {marker['received_at']:%Y-%m-%d %H:%M}",
    )


def _read_submission(
    path: Path,
    paths: Paths,
    sha256: str,
    reference: Reference | None,
    now: datetime | None,
    reprocess_as: dict[str, object] | None,
    historical: bool,
    consume: bool = False,
) -> tuple[lake.Received, FileOutcome]:
    """Archive, read, normalise and check one unit submission: its lake outputs (not written yet) and outcome."""
    received_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    received_at_source = "system"
    file_name = received_name(path)
    if reprocess_as is not None:
        received_at = reprocess_as["received_at"]  # type: ignore[assignment]
        received_at_source = str(reprocess_as.get("received_at_source") or "system")
        file_name = recorded_name(str(reprocess_as["file_name"]))
    suffix = path.suffix.lower() if path.suffix.lower() in SUPPORTED_SUFFIXES else ".bin"
    archive_path = archive(path, sha256, suffix, paths, move=consume)

    reference = reference or load_reference(lake=paths.lake)
    pseudonymise = make_pseudonymiser()
    rows: list[dict[str, object]] = []
    quarantine: list[dict[str, object]] = []
    skipped = 0
    error_reason = error = None
    unit = period = None
    try:
        result = process_tables(read_file(path, name=file_name), reference, pseudonymise)
    except (ReadError, FileLevelError) as err:
        error_reason, error = err.reason, str(err)
        status = "rejected"
    except (MemoryError, OSError):
        raise  # the machine, not the file: the task's retry may succeed
    except Exception as err:  # an input no check foresaw: it is this file's verdict, never its batch's
        log.exception("%s: could not be read", path.name)
        error_reason = "unreadable"
        error = (
            f"the file could not be read ({type(err).__name__}: {str(err)[:200]}); save it again from the "
            "reporting template, or send it to the data team with this message."
        )
        status = "rejected"
    else:
        unit, period = result.main_unit_and_period()
        skipped = result.skipped
        if historical and reprocess_as is None and result.filled_on:
            try:
                filled_on = parse_date(result.filled_on)
            except NormalizationError:
                log.warning("%s: 填报日期 %r is not a date; using the receipt time", path.name, result.filled_on)
            else:
                received_at = datetime.combine(filled_on, FORM_TIME_OF_DAY) - SHANGHAI_OFFSET
                received_at_source = "form"
        common = {"file_sha256": sha256, "file_name": file_name}
        rows = result.rows
        for row in rows:  # in place: the rows are this file's own, and a copy of each would only cost time
            row.update(common, received_at=received_at)
        quarantine = [{**common, **q.__dict__, "quarantined_at": received_at} for q in result.quarantine]
        status = "loaded_with_quarantine" if quarantine else "loaded"
        if not rows and quarantine:
            status = "rejected"
            error_reason, error = (
                "all_rows_quarantined",
                "every row of the file was refused; see audit.quarantine.",
            )

    record = {
        "file_sha256": sha256,
        "file_name": file_name,
        "source": "submissions",
        "file_format": file_format(file_name),
        "size_bytes": path.stat().st_size,
        "reporting_unit_code": unit,
        "period_id": period,
        "received_at": received_at,
        "received_at_source": received_at_source,
        "status": status,
        "rows_received": len(rows) + len(quarantine),
        "rows_accepted": len(rows),
        "rows_quarantined": len(quarantine),
        "rows_skipped": skipped,
        "error_reason": error_reason,
        "error": error,
        "archive_path": str(archive_path.relative_to(paths.home))
        if archive_path.is_relative_to(paths.home)
        else str(archive_path),
    }
    outcome = FileOutcome(
        file_name,
        sha256,
        status,
        rows_received=len(rows) + len(quarantine),
        rows_accepted=len(rows),
        rows_quarantined=len(quarantine),
        rows_skipped=skipped,
        reporting_unit_code=unit,
        period_id=period,
        error_reason=error_reason,
        error=error,
        lake_name=sha256,
    )
    return lake.Received(sha256, rows, quarantine, record), outcome


SEGMENT_FILES = 64  # unit submissions committed together by ingest_batch (one lake file of each kind)


def ingest_batch(
    files: list[Path],
    paths: Paths,
    reference: Reference | None = None,
    consume: bool = False,
    historical: bool = False,
    received_at: list[datetime] | None = None,
    progress: Callable[[str], Callable[[str, float], None]] | None = None,
) -> list[FileOutcome]:
    """Ingest several files; outcomes in their order. Unit submissions are committed together as one lake
    segment (see :mod:`ingest.lake`); each is read, checked and recorded exactly as by :func:`ingest_file`
    (the same rows, refused rows and audit record), only written in one file of each kind. A microdata
    file goes through :func:`ingest_file` on its own. ``received_at``: the receipt time of each file
    (default: now). ``progress``: file name → a progress callback for a microdata file's long load.

    The batch holds the lock of every file's hash from the check for duplicates to the commit, so the
    same bytes given to two workers at once are still one load and one duplicate; the same bytes twice in
    one batch are one load and one duplicate too.
    """
    from ingest.microdata import microdata_kind

    paths.ensure()
    finish_interrupted_reprocesses(paths, reference)
    times = received_at or [datetime.now(UTC)] * len(files)
    outcomes: dict[int, FileOutcome] = {}
    forms: list[tuple[int, Path, str]] = []
    clock = _Clock()
    for index, path in enumerate(files):
        try:
            if microdata_kind(path) is not None:
                report = progress(path.name) if progress else None
                clock.lap()
                outcome = ingest_file(path, paths, consume=consume, now=times[index], progress=report)
                outcomes[index] = outcome.timed(*clock.lap())
            else:
                forms.append((index, path, sha256_of(path)))
        except FileNotFoundError:
            if path.exists():
                raise
            outcomes[index] = _taken(path)
    if forms:
        reference = reference or load_reference(lake=paths.lake)
        members: dict[int, lake.Received] = {}
        loaded: dict[str, dict[str, object]] = {}  # sha256 → the record of its reading in this batch
        first: dict[str, int] = {}  # sha256 → the index of that reading
        superseded: list[dict[str, object]] = []  # rejections read again under a new name
        shas = {sha for _, _, sha in forms}
        priors: dict[str, dict[str, object] | None] = {}  # sha256 → its audit record if received before

        def rewrites() -> bool:  # a rejection read again under a new name is taken out of its segment
            priors.clear()
            priors.update((sha, lake.prior_receipt(paths.lake, sha)) for sha in shas)
            return any(
                (prior := priors[sha]) is not None and lake.read_again(prior, received_name(path), "submissions")
                for _, path, sha in forms
            )

        with lake.hash_locks(paths.lake, shas, rewrites):
            clock.lap()
            for index, path, sha in forms:
                marker = loaded.get(sha)  # the same bytes earlier in this batch
                if marker is not None and lake.read_again(marker, received_name(path), "submissions"):
                    superseded.append(marker)  # rejected earlier in this batch: this reading replaces it
                    del members[first[sha]]
                    marker = None
                elif marker is None and (prior := priors[sha]) is not None:
                    marker = prior
                    if lake.read_again(prior, received_name(path), "submissions"):  # a rejection: read again
                        lake.remove_file_outputs(paths.lake, sha)
                        superseded.append(prior)
                        marker = None
                if marker is not None:
                    outcomes[index] = _duplicate(path, sha, marker, consume=False).timed(*clock.lap())
                    continue
                received, outcome = _read_submission(
                    path, paths, sha, reference, times[index], None, historical, consume
                )
                members[index], loaded[sha], first[sha] = received, received.record, index
                outcomes[index] = outcome.timed(*clock.lap())
            if members:
                name = lake.write_segment(paths.lake, "submissions", list(members.values()))
                for prior in superseded:
                    drop_superseded_archive(paths, prior, loaded[str(prior["file_sha256"])])
                wall, cpu = clock.lap()
                for index in members:  # the segment's write, shared out
                    o = outcomes[index]
                    outcomes[index] = replace(o, lake_name=name).timed(
                        o.seconds + wall / len(members), o.cpu_seconds + cpu / len(members)
                    )
        if consume:
            for _, path, _ in forms:
                path.unlink(missing_ok=True)  # or taken by another ingest run meanwhile
    return [outcomes[i] for i in range(len(files))]


def _ingest_batch_in_worker(jobs: list[tuple[str, str, bool, bool, datetime]]) -> list[FileOutcome]:
    _, home, consume, historical, _ = jobs[0]  # the same for every job of a run
    paths = Paths.from_env(home) if home else Paths.from_env()
    files = [Path(job[0]) for job in jobs]
    return ingest_batch(files, paths, consume=consume, historical=historical, received_at=[job[4] for job in jobs])


LARGE_FILE_BYTES = 32 << 20  # a microdata file: started first, on its own, so that it never ends the run


def ingest_parallel(
    files: list[Path], paths: Paths, jobs: int, consume: bool = False, historical: bool = False
) -> Iterator[FileOutcome]:
    """:func:`ingest_batch` over ``files`` in ``jobs`` worker processes; outcomes in the files' order.

    Each batch is independent (its outputs are keyed by its files' sha256, and the lock of each hash makes
    the same bytes sent twice one load and one duplicate), so the workers need no other coordination. Receipt
    times are given out in the files' order before the work starts, so "the latest record" of a worker
    or an enterprise is the one in the later file, as when one process ingests them one by one.

    The work is started largest first: each large file (microdata, minutes at province scale) on its
    own, then the small ones (forms) in chunks, so that the other workers take the forms while one
    reads a large file, instead of a large file starting last and running alone.
    """
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    home = os.environ.get("REFORM_HOME") or ""
    env_paths = Paths.from_env(home) if home else Paths.from_env()
    same = env_paths == paths
    # received in the inbox's order, as one worker would (see receipt_times)
    work = [
        (str(f), "" if same else str(paths.home), consume, historical, received_at)
        for f, received_at in zip(files, receipt_times(len(files)), strict=True)
    ]
    sizes = [_size(f) for f in files]
    large = sorted((i for i, size in enumerate(sizes) if size >= LARGE_FILE_BYTES), key=lambda i: -sizes[i])
    small = [i for i, size in enumerate(sizes) if size < LARGE_FILE_BYTES]
    chunk = max(1, min(SEGMENT_FILES, len(small) // (jobs * 4)))
    batches = [[i] for i in large] + [small[k : k + chunk] for k in range(0, len(small), chunk)]
    context = multiprocessing.get_context("spawn")  # DuckDB and Arrow threads do not survive fork
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        where: dict[int, tuple[Future[list[FileOutcome]], int]] = {}
        for batch in batches:
            future = pool.submit(_ingest_batch_in_worker, [work[i] for i in batch])
            where.update((i, (future, position)) for position, i in enumerate(batch))
        for i in range(len(files)):
            future, position = where.pop(i)
            yield future.result()[position]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # gone since it was found: ingest_file says so


def receipt_times(count: int) -> list[datetime]:
    """Receipt times for files received together, in their order: "the latest record" of a worker or an
    enterprise is the one in the later file, whichever file a process happens to finish first."""
    start = datetime.now(UTC)
    return [start + timedelta(microseconds=i) for i in range(count)]


def ingest_sequential(
    files: list[Path],
    paths: Paths,
    reference: Reference | None = None,
    consume: bool = False,
    historical: bool = False,
    progress: Callable[[str], Callable[[str, float], None]] | None = None,
) -> Iterator[FileOutcome]:
    """:func:`ingest_batch` over ``files`` in one process, :data:`SEGMENT_FILES` at a time; outcomes in order."""
    reference = reference or load_reference(lake=paths.lake)
    times = receipt_times(len(files))
    for start in range(0, len(files), SEGMENT_FILES):
        chunk = slice(start, start + SEGMENT_FILES)
        yield from ingest_batch(files[chunk], paths, reference, consume, historical, times[chunk], progress)


def ingest_paths(
    targets: Iterable[Path], paths: Paths, consume: bool = False, historical: bool = False
) -> list[FileOutcome]:
    return list(ingest_sequential(list(discover(targets)), paths, consume=consume, historical=historical))


def reprocess(paths: Paths, period_from: str, period_to: str) -> list[FileOutcome]:
    """Re-read every archived submission whose period lies in [period_from, period_to] with today's code.

    For a backfill after a parser or reference-data fix: each file keeps its name and receipt time (so
    versions and timeliness do not change), its lake rows and quarantine are replaced. Rejected files
    have no period and are re-read too when the range is open-ended on both sides (``*``).
    """
    reference = load_reference(lake=paths.lake)

    def in_range(record: dict[str, object]) -> bool:
        period = record["period_id"]
        if period is None:
            return period_from == "*" and period_to == "*"
        return period_in_range(str(period), period_from, period_to)

    chosen = {record["file_sha256"]: record for record in lake.read_markers(paths.lake) if in_range(record)}
    for record in lake.pending_reprocesses(paths.lake):  # an earlier re-read died after removing its outputs
        if record["file_sha256"] not in chosen:
            log.warning("finishing the interrupted reprocessing of %s", record["file_name"])
        chosen[record["file_sha256"]] = record
    return _read_again(paths, list(chosen.values()), reference, still_chosen=in_range)


def finish_interrupted_writes(paths: Paths) -> None:
    """What a build does before it reads the lake: a register (:func:`ingest.reference.finish_interrupted_register`)
    and reprocesses (:func:`finish_interrupted_reprocesses`) killed midway are written whole first, and
    the temporary files killed processes left are removed (:func:`ingest.lake.sweep_temporaries`), as
    are the folders of old builds that never published (:func:`ingest.warehouse.prune_failed_builds`)."""
    from ingest.reference import finish_interrupted_register
    from ingest.warehouse import prune_failed_builds

    finish_interrupted_register(paths)
    finish_interrupted_reprocesses(paths)
    folders = [paths.lake / folder for folder, _schema in lake.LAKE_TABLES.values()]
    swept = lake.sweep_temporaries([*folders, paths.archive, paths.warehouse_dir])
    if swept:
        log.warning("removed %d temporary file(s) left by killed processes, e.g. %s", len(swept), swept[0])
    prune_failed_builds(paths)


def finish_interrupted_reprocesses(paths: Paths, reference: Reference | None = None) -> list[FileOutcome]:
    """Re-read the files whose reprocessing died midway (``lake/.reprocessing``), before anything reads
    the lake or adds to it: until then such a file may have its record without its rows (killed while it
    was being taken out of its segment) or no record at all, so a build would publish it without its
    values and an ingest would take the same bytes in the inbox for a new file. Called by every build and
    every ingest batch; the file a reprocess running elsewhere is re-reading now is waited for, not
    read again (its note stays only while its rewrite lock is held, or after its reprocess died)."""
    pending = lake.pending_reprocesses(paths.lake)
    if not pending:
        return []
    log.warning(
        "finishing %d interrupted reprocessing(s) first: %s",
        len(pending),
        ", ".join(str(r["file_name"]) for r in pending[:5]),
    )
    return _read_again(paths, pending, reference or load_reference(lake=paths.lake), interrupted=True)


def _read_again(
    paths: Paths,
    records: list[dict[str, object]],
    reference: Reference,
    interrupted: bool = False,
    still_chosen: Callable[[dict[str, object]], bool] | None = None,
) -> list[FileOutcome]:
    """Re-read the files of ``records`` from the archive, one at a time under the lake's rewrite lock.
    ``interrupted``: the records are notes of re-reads that died; one finished by its own reprocess
    meanwhile (its note gone once the lock is had) is not read again.

    Otherwise each file is re-read as its record is once the lock is had, not as it was listed: a
    rejected file read again under a new name in between (which holds the same lock) keeps its new name
    and receipt time; before, the reprocess gave it back the old ones (found by a concurrency campaign),
    and a record that no longer matches (``still_chosen``) is left alone, as a reprocess started later would."""
    outcomes = []
    for listed in records:
        sha = str(listed["file_sha256"])
        with lake.rewrite_lock(paths.lake):
            if interrupted and not lake.reprocess_noted(paths.lake, sha):
                continue
            record = listed if interrupted else lake.prior_receipt(paths.lake, sha) or listed
            if still_chosen is not None and record != listed and not still_chosen(record):
                continue
            archived = paths.home / str(record["archive_path"]) if record["archive_path"] else None
            if archived is None or not archived.exists():
                log.warning("cannot reprocess %s: archived copy %s is missing", record["file_name"], archived)
                continue
            # noted before the old outputs go, forgotten once the new ones are in: a retry finds it
            lake.begin_reprocess(paths.lake, record)
            outcomes.append(ingest_file(archived, paths, reference, reprocess_as=record))
            lake.end_reprocess(paths.lake, sha)
    return outcomes


def period_in_range(period_id: str, period_from: str, period_to: str) -> bool:
    """Whether a period lies within the range (bounds in any spelling, ``*`` for open)."""
    start, end = period_bounds(period_id)
    if period_from != "*" and start < period_bounds(parse_period(period_from))[0]:
        return False
    return not (period_to != "*" and end > period_bounds(parse_period(period_to))[1])
