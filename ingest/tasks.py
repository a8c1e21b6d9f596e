"""The functions Airflow tasks call: plain arguments in, JSON-serialisable results out.

DAG files stay thin (they only wire these together), and every function here is what the ``reform``
CLI runs too, so a task can be re-run by hand exactly as the scheduler runs it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ingest import intake, warehouse
from ingest.config import Paths

log = logging.getLogger(__name__)


class NothingNew(Exception):
    """No new file landed: downstream consumers need not run."""


def list_inbox() -> list[str]:
    """Files waiting in the inbox, oldest name first."""
    paths = Paths.from_env().ensure()
    return [str(p) for p in intake.discover([paths.inbox])]


def ingest_one(path: str, historical: bool = False) -> dict[str, object]:
    """Ingest one inbox file into the lake and remove it from the inbox (it is archived by hash)."""
    paths = Paths.from_env()
    file = Path(path)
    if not file.exists():  # a retried task whose first try already consumed the file
        return {"file_name": file.name, "status": "already_processed"}
    return intake.ingest_file(file, paths, consume=True, historical=historical).as_dict()


def summarize_ingest(outcomes: list[dict[str, object]]) -> dict[str, int]:
    """Count outcomes; raises :class:`NothingNew` when no file added rows (so no asset event is sent)."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[str(outcome["status"])] = counts.get(str(outcome["status"]), 0) + 1
    counts["rows_accepted"] = sum(int(o.get("rows_accepted", 0) or 0) for o in outcomes)
    counts["rows_quarantined"] = sum(int(o.get("rows_quarantined", 0) or 0) for o in outcomes)
    if not any(o["status"] in ("loaded", "loaded_with_quarantine", "rejected") for o in outcomes):
        raise NothingNew(f"nothing new in the inbox: {counts}")
    return counts


def validate_landed(outcomes: list[dict[str, object]]) -> dict[str, object]:
    """Run the raw suites on the files this ingest run loaded; report, never block (the build is the gate)."""
    from ingest import validation

    shas = {str(o["sha256"]) for o in outcomes if o.get("status") in ("loaded", "loaded_with_quarantine")}
    if not shas:
        return {"files": 0, "expectations": 0, "failed": 0}
    results = validation.validate_landed(Paths.from_env(), shas, warehouse.new_run_id())
    failed = [r for r in results if not r["success"]]
    for result in failed:
        log.warning(
            "%s failed on the new files: %s (%s rows); the nightly build will refuse to publish if it is critical",
            result["suite"],
            result["description"],
            result["unexpected_count"],
        )
    return {"files": len(shas), "expectations": len(results), "failed": len(failed)}


def prepare_build(run_id: str | None = None) -> dict[str, object]:
    paths = Paths.from_env()
    run_id = run_id or warehouse.new_run_id()
    build_path, counts = warehouse.prepare(paths, run_id)
    return {"run_id": run_id, "build_path": str(build_path), "raw_counts": counts}


def dbt_build(run_id: str, dbt_vars: dict[str, object] | None = None) -> int:
    paths = Paths.from_env()
    return warehouse.build_models(warehouse.build_path_for(paths, run_id), dbt_vars)


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
    """Re-read the archived files of a period range (see :func:`ingest.intake.reprocess`)."""
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
