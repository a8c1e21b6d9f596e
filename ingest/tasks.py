"""The functions Airflow tasks call: plain arguments in, JSON-serialisable results out.

DAG files stay thin (they only wire these together), and every function here is what the ``reform``
CLI runs too, so a task can be re-run by hand exactly as the scheduler runs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from ingest import intake, lake, warehouse
from ingest.config import Paths

log = logging.getLogger(__name__)


class NothingNew(Exception):
    """No new file landed: downstream consumers need not run."""


def list_inbox(kind: str = "submissions") -> list[str]:
    """Files waiting in the inbox, oldest name first: unit submissions, or statistical microdata
    (``inbox/microdata/<kind>/…`` or files named ``<kind>_…``)."""
    from ingest.microdata import detect_kind

    paths = Paths.from_env().ensure()
    files = settled(intake.rename_unreadable(intake.discover([paths.inbox])))
    if kind == "microdata":
        return [str(p) for p in files if detect_kind(p) is not None]
    return [str(p) for p in files if detect_kind(p) is None]


def settled(files: list[Path], now: float | None = None) -> list[Path]:
    """The files not modified for REFORM_INBOX_SETTLE_SECONDS (default 0: all): a file still being
    uploaded (an SFTP client writing in place, paused) is left for the next run, not read half-written.
    Set it where units upload into the inbox directly (docker-compose.yml: 60)."""
    wait = float(os.environ.get("REFORM_INBOX_SETTLE_SECONDS") or 0)
    if wait <= 0:
        return files
    now = time.time() if now is None else now
    ready = []
    for path in files:
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:  # taken by a run in between
            continue
        if age >= wait:
            ready.append(path)
        else:
            log.info("%s changed %.0f s ago: left for the next run (REFORM_INBOX_SETTLE_SECONDS)", path.name, age)
    return ready


def list_inbox_batches(kind: str = "submissions") -> list[list[str]]:
    """:func:`list_inbox` in the batches one task ingests: up to :data:`ingest.intake.SEGMENT_FILES`
    forms (committed together as one lake segment), or one microdata file (minutes of work each)."""
    files = list_inbox(kind)
    sweep_inflight_notes(Paths.from_env())  # once a run, before its ingest tasks
    size = 1 if kind == "microdata" else intake.SEGMENT_FILES
    return [files[start : start + size] for start in range(0, len(files), size)]


INFLIGHT = ".inflight"  # in the lake: one note per ingest task while it runs, then its outcomes


def ingest_many(paths: list[str], historical: bool = False, task_key: str | None = None) -> list[dict[str, object]]:
    """Ingest a batch of inbox files into the lake and remove them from the inbox (each is archived by
    hash); one outcome per file, in order. A bad file is an outcome (rejected, with its reason), never an
    error; a system failure raises and the retried task redoes the batch (nothing of it was committed, or,
    if its segment was, the retry reports its files as landed: :func:`_landed_by_an_earlier_try`).

    ``task_key`` names the task instance (DAG, run, map index): its note then keeps the outcomes once the
    batch is done, and a retry of a try killed after that (Airflow had not yet recorded its success)
    returns them again. Without it, such a retry found its files gone and called them
    ``already_processed``: the run sent no ``reform_lake`` event and checked none of them."""
    home = Paths.from_env()
    files = [Path(p) for p in paths]
    present = [f for f in files if f.exists()]  # a retried task: its first try may have consumed some
    # a note for the time the batch is being ingested: found by a retry, it says an earlier try of this
    # very batch died (see _landed_by_an_earlier_try); once the batch is done, it holds its outcomes
    key = "\n".join([task_key or "", *sorted(paths)])
    note = home.lake / INFLIGHT / hashlib.sha256(key.encode()).hexdigest()
    earlier_try = note.exists()
    done_before = _outcomes_noted(note) if earlier_try else {}
    if earlier_try:  # what this retry redoes, in its log
        log.warning(
            "an earlier try of this batch %s; %d of its %d files are still in the inbox",
            f"finished its {len(done_before)} files (killed after)" if done_before else "died midway",
            len(present),
            len(files),
        )
    note.parent.mkdir(parents=True, exist_ok=True)
    note.touch()
    outcomes = dict(
        zip(
            present,
            intake.ingest_batch(
                present, home, consume=True, historical=historical, received_at=intake.receipt_times(len(present))
            ),
            strict=True,
        )
    )
    if earlier_try:
        outcomes = _landed_by_an_earlier_try(home, outcomes)
    for outcome in outcomes.values():
        log.info(
            "%s: %s, %d rows accepted, %d quarantined in %.2f s%s",
            outcome.file_name,
            outcome.status,
            outcome.rows_accepted,
            outcome.rows_quarantined,
            outcome.seconds,
            f" ({outcome.error})" if outcome.error else "",
        )
    results = []
    for f in files:
        if f in outcomes:
            results.append(outcomes[f].as_dict())
        elif str(f) in done_before:  # this task's earlier try finished the file, and was killed after
            log.info("%s: %s by this task's earlier try", f.name, done_before[str(f)]["status"])
            results.append(done_before[str(f)])
        else:
            results.append({"file_name": intake.received_name(f), "status": "already_processed"})
    if task_key:
        lake.replace_text(note, json.dumps(dict(zip(map(str, files), results, strict=True)), ensure_ascii=False))
    else:
        note.unlink(missing_ok=True)
    return results


def _outcomes_noted(note: Path) -> dict[str, dict[str, object]]:
    """The outcomes an earlier try of the task noted when it was done (empty: it died before that)."""
    try:
        text = note.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return json.loads(text) if text.strip() else {}


def sweep_inflight_notes(paths: Paths, now: float | None = None) -> int:
    """Remove the ingest tasks' notes not written for a day (a retry comes within minutes)."""
    now = time.time() if now is None else now
    removed = 0
    for note in (paths.lake / INFLIGHT).glob("*"):
        with contextlib.suppress(FileNotFoundError):
            if now - note.stat().st_mtime >= lake.STALE_SECONDS:
                note.unlink()
                removed += 1
    return removed


def _landed_by_an_earlier_try(paths: Paths, outcomes: dict[Path, intake.FileOutcome]) -> dict[Path, intake.FileOutcome]:
    """The files a retried task finds as duplicates because its earlier try committed their segment and
    then died (before removing them from the inbox): landed in this run all the same, so they are
    reported as their records say, for the load checks and the ``reform_lake`` event. Called only on a
    retry (the batch's note was left); a segment is that try's when it holds exactly these files (its
    name is their hashes'). A file sent again in a later run stays a duplicate."""
    from dataclasses import replace

    from ingest import lake

    by_segment: dict[str, list[Path]] = {}
    for path, outcome in outcomes.items():
        if outcome.status == "duplicate" and (segment := lake.segment_of(paths.lake, outcome.sha256)):
            by_segment.setdefault(segment, []).append(path)
    for segment, files in by_segment.items():
        if segment != lake.segment_name(outcomes[f].sha256 for f in files):
            continue
        records = {r["file_sha256"]: r for r in lake.segment_records(paths.lake, segment)}
        for path in files:
            record = records[outcomes[path].sha256]
            log.info("%s: committed by this task's earlier try (segment %s)", path.name, segment)
            outcomes[path] = replace(
                outcomes[path],
                status=record["status"],
                rows_received=record["rows_received"],
                rows_accepted=record["rows_accepted"],
                rows_quarantined=record["rows_quarantined"],
                rows_skipped=record["rows_skipped"],
                error_reason=record["error_reason"],
                error=record["error"],
                lake_name=segment,
            )
    return outcomes


def summarize_ingest(outcomes: list[dict[str, object]]) -> dict[str, int]:
    """Count outcomes; raises :class:`NothingNew` when no file added rows (so no asset event is sent)."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[str(outcome["status"])] = counts.get(str(outcome["status"]), 0) + 1
    counts["rows_accepted"] = sum(int(o.get("rows_accepted", 0) or 0) for o in outcomes)
    counts["rows_quarantined"] = sum(int(o.get("rows_quarantined", 0) or 0) for o in outcomes)
    processed = [intake.FileOutcome(**o) for o in outcomes if "sha256" in o]  # not the already_processed
    for source, e in intake.by_source(processed).items():  # where the run's time went
        log.info(
            "%s: %d files, %d rows in %.1f s in the workers (%.1f s CPU, %.2f µs a row)",
            source,
            e["files"],
            e["rows"],
            e["seconds"],
            e["cpu_seconds"],
            e["cpu_microseconds_per_row"],
        )
    for source, steps in intake.steps_by_source(processed).items():
        log.info("%s by step: %s", source, intake.step_seconds(steps))
    if not any(o["status"] in ("loaded", "loaded_with_quarantine", "rejected") for o in outcomes):
        raise NothingNew(f"nothing new in the inbox: {counts}")
    return counts


def validate_landed(outcomes: list[dict[str, object]]) -> dict[str, object]:
    """Run the raw suites on the files this ingest run loaded; report, never block (the build is the gate)."""
    from ingest import validation

    # the lake files holding them: a file's own (named by its sha256) or its segment's
    landed = [o for o in outcomes if o.get("status") in ("loaded", "loaded_with_quarantine")]
    names = {str(o.get("lake_name") or o["sha256"]) for o in landed}
    if not names:
        return {"files": 0, "expectations": 0, "failed": 0}
    results = validation.validate_landed(Paths.from_env(), names, warehouse.new_run_id())
    failed = [r for r in results if not r["success"]]
    for result in failed:
        log.warning(
            "%s failed on the new files: %s (%s rows); the nightly build will refuse to publish if it is critical",
            result["suite"],
            result["description"],
            result["unexpected_count"],
        )
    return {"files": len(landed), "expectations": len(results), "failed": len(failed)}


def prepare_build(run_id: str | None = None, incremental: bool = False) -> dict[str, object]:
    """The build file, loaded from the lake. ``incremental``: on top of the published release when that
    is safe, else a full build; ``mode`` and ``reason`` say which and why (``ingest/incremental.py``;
    :func:`warehouse.prepare` logs them)."""
    from ingest.incremental import Plan

    paths = Paths.from_env()
    run_id = run_id or warehouse.new_run_id()
    if (paths.releases / run_id).exists():  # an id given by the DAG is one per run (airflow_build_id)
        raise warehouse.RunIdError(f"the build {run_id} is published already; clear the run to build anew")
    build_path, counts = warehouse.prepare(paths, run_id, incremental=incremental)
    plan = Plan.read(build_path.parent)
    return {
        "run_id": run_id,
        "build_path": str(build_path),
        "as_of_date": warehouse.build_as_of_date(build_path.parent),
        "raw_counts": counts,
        "mode": plan.mode,
        "reason": plan.reason,
    }


def dbt_build(run_id: str, dbt_vars: dict[str, object] | None = None) -> int:
    paths = Paths.from_env()
    return warehouse.build_models(warehouse.build_path_for(paths, run_id), dbt_vars)


def dbt_docs(run_id: str, dbt_vars: dict[str, object] | None = None) -> int:
    """The build's documentation as one static page (``target/static_index.html`` beside the build file,
    installed by :func:`publish_build`); reform_nightly runs it after its dbt task group."""
    paths = Paths.from_env()
    return warehouse.run_dbt(warehouse.build_path_for(paths, run_id), ["docs", "generate", "--static"], dbt_vars)


def validate_build(run_id: str) -> dict[str, object]:
    """Run the checkpoints; raises :class:`warehouse.PublishBlocked` on a critical failure."""
    paths = Paths.from_env()
    results = warehouse.validate(paths, run_id, warehouse.build_path_for(paths, run_id))
    critical = [r for r in results if not r["success"] and r["severity"] == "critical"]
    warnings = [r for r in results if not r["success"] and r["severity"] != "critical"]
    if critical:
        names = "; ".join(f"{r['suite']}: {r['expectation']} on {r['column_name'] or 'table'}" for r in critical)
        raise warehouse.PublishBlocked(
            f"critical validation failed, run {run_id} not published; the previous warehouse stays. {names}",
            critical,
        )
    return {"run_id": run_id, "expectations": len(results), "warnings": len(warnings)}


def publish_build(run_id: str) -> str:
    return str(warehouse.publish(Paths.from_env(), run_id))


def reprocess_periods(period_from: str, period_to: str) -> dict[str, int]:
    """Re-read the archived files of a period range (see :func:`ingest.intake.reprocess`).

    Raises :class:`ingest.normalize.NormalizationError` for a period that cannot be read.
    """
    from ingest.normalize import parse_period

    for bound in (period_from, period_to):
        if bound != "*":
            parse_period(bound)
    outcomes = intake.reprocess(Paths.from_env(), period_from, period_to)
    counts: dict[str, int] = {"files": len(outcomes)}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def regenerate_reports(run_id: str | None = None) -> list[str]:
    """After a publish: rebuild the annual reports of the regions whose data changed in release ``run_id``."""
    from ingest import report

    paths = Paths.from_env()
    return [str(p) for p in report.regenerate_changed_reports(paths, report.previous_release(paths, run_id))]


HINTS = {
    "BuildError": "a dbt model or test failed: read the failing node in the message, fix it, then clear the task",
    "PublishBlocked": "a critical check failed: see audit.validation_failures or `reform quality --unit …`, have "
    "the unit correct its data, then re-run reform_nightly; the previous warehouse stays published",
    "NormalizationError": "a parameter is not valid: trigger the DAG again with a corrected value",
    "OSError": "the system failed (disk full? permissions under REFORM_HOME?): fix it, then clear the task",
}


DBT_GROUP_HINT = (
    "the dbt build failed: the log of dbt.dbt_producer_watcher names the failing model or test; fix it, then "
    "trigger reform_nightly again (its dbt tasks never re-run: a cleared one fails); the previous warehouse stays"
)


def record_failure(dag_id: str, run_id: str, task_id: str, try_number: int, error: BaseException | None) -> str:
    """Write a failed task to the lake's audit (``lake/audit/task_failures``) with what to do about it."""
    from datetime import UTC, datetime

    from ingest import lake

    kind = type(error).__name__ if error is not None else "unknown"
    chain = []  # the exception and what caused it: the cause names the real problem
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__
    names = [c.__name__ for e in chain for c in type(e).__mro__]
    hint = next((HINTS[name] for name in names if name in HINTS), "read the task log, fix the cause, then clear it")
    if task_id.startswith("dbt."):  # reform_nightly's cosmos task group (ingest.dbt_cosmos): never cleared
        hint = DBT_GROUP_HINT
    error = chain[0] if chain else None
    record = {
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "try_number": try_number,
        "failed_at": datetime.now(UTC).replace(tzinfo=None),
        "error_type": kind,
        "error": str(error)[:2000] if error is not None else None,
        "what_to_do": hint,
    }
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{dag_id}__{run_id}__{task_id}__{try_number}")
    lake.write_records(
        Paths.from_env().lake / "audit" / "task_failures" / f"{safe}.parquet", [record], lake.TASK_FAILURES_SCHEMA
    )
    log.error("%s.%s failed (%s): %s — what to do: %s", dag_id, task_id, kind, record["error"], hint)
    return hint
