"""A short, human summary of the published warehouse (read-only; safe while others read it)."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable

import duckdb

from ingest.config import Paths
from ingest.lake import LATEST_VALIDATION_RUN


def warehouse_summary(paths: Paths) -> dict[str, object]:
    """The figures ``reform demo`` and ``reform summary`` print, as data."""
    with contextlib.closing(duckdb.connect(str(paths.published), read_only=True)) as con:
        files = dict(con.execute("select status, count(*) from audit.ingest_files group by all").fetchall())
        rows = con.execute(
            "select coalesce(sum(rows_received), 0), coalesce(sum(rows_accepted), 0), "
            "coalesce(sum(rows_quarantined), 0) from audit.ingest_files"
        ).fetchone()
        reasons = con.execute(
            "select reason_code, count(*) from audit.quarantine group by all order by 2 desc, 1"
        ).fetchall()
        latest_run = con.execute(f"select {LATEST_VALIDATION_RUN}").fetchone()[0]
        validations = con.execute(
            "select severity, count(*) filter (where success), count(*) filter (where not success) "
            "from audit.validation_results where run_id = ? group by all order by 1",
            [latest_run],
        ).fetchall()
        failed = con.execute(
            "select severity, description, unexpected_count from audit.validation_results "
            "where run_id = ? and not success order by severity, description",
            [latest_run],
        ).fetchall()
        observations = con.execute(
            "select count(*), count(distinct reporting_unit_code), count(distinct period_id) "
            "from marts.fct_indicator_observation where is_current"
        ).fetchone()
        targets = con.execute(
            "select status, count(*) from marts.fct_target_progress group by all order by 2 desc"
        ).fetchall()
        reporting = con.execute(
            "select count(*), count(*) filter (where is_submitted), count(*) filter (where is_on_time) "
            "from marts.fct_reporting_completeness where is_due"
        ).fetchone()
        # headline: the targets of the region with the most stated targets, as the plan lists them
        headline = con.execute(
            """
            with region as (
                select region_code from marts.fct_target_progress where target_status = 'normal'
                group by all order by count(*) desc, 1 limit 1
            )
            select r.name_zh, i.name_zh, p.actual_value, p.comparator, p.target_value, p.unit, p.status
            from marts.fct_target_progress as p
            join region using (region_code)
            join marts.dim_region as r using (region_code)
            join marts.dim_indicator as i using (indicator_code)
            where p.actual_value is not null and p.target_value is not null
            order by p.target_id
            limit 6
            """
        ).fetchall()
    return {
        "files": files,
        "rows_received": rows[0],
        "rows_accepted": rows[1],
        "rows_quarantined": rows[2],
        "quarantine_reasons": reasons,
        "validation_run": latest_run,
        "validations": validations,
        "failed_validations": failed,
        "current_observations": observations[0],
        "reporting_units": observations[1],
        "periods": observations[2],
        "targets": targets,
        "reporting": reporting,
        "headline": headline,
    }


def print_summary(paths: Paths, say: Callable[[str], None] = print) -> int:
    if not paths.published.exists():
        say(f"no published warehouse at {paths.published}; run `reform build` (or `make demo`) first")
        return 2
    s = warehouse_summary(paths)
    files = s["files"]
    say(f"published warehouse: {paths.published}")
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(files.items()))
    say(f"files received: {sum(files.values())}" + (f" ({by_status})" if by_status else ""))
    say(f"rows: {s['rows_received']} received, {s['rows_accepted']} loaded, {s['rows_quarantined']} quarantined")
    if s["quarantine_reasons"]:
        say("  quarantined by reason: " + ", ".join(f"{r} {n}" for r, n in s["quarantine_reasons"]))
    for severity, passed, failed in s["validations"]:
        say(f"validations ({severity}): {passed} passed, {failed} failed   [run {s['validation_run']}]")
    for severity, description, count in s["failed_validations"]:
        say(f"  {severity} failed: {description} ({count} rows; see audit.validation_results)")
    say(
        f"current observations: {s['current_observations']} from {s['reporting_units']} reporting units "
        f"over {s['periods']} periods"
    )
    say("targets: " + ", ".join(f"{status} {n}" for status, n in s["targets"]))
    expected, submitted, on_time = s["reporting"]
    if expected:
        say(
            f"reporting: {submitted} of {expected} expected submissions received ({100 * submitted / expected:.1f} %), "
            f"{on_time} on time ({100 * on_time / expected:.1f} %)"
        )
    if s["headline"]:
        say(f"headline figures ({s['headline'][0][0]}, latest actual against the plan's target):")
        from ingest.status import table

        rows = [
            (name, round(actual, 1), comparator, target, unit, status)
            for _region, name, actual, comparator, target, unit, status in s["headline"]
        ]
        say(table(["indicator", "actual", "", "target", "unit", "status"], rows))
    return 0


class UnknownUnit(LookupError):
    """A unit code the published warehouse does not know (not registered, never sent a file)."""


def _known_unit(con: duckdb.DuckDBPyConnection, unit_code: str) -> str:
    """``unit_code`` as the warehouse spells it (half-width, trimmed, upper case), if it is a registered
    unit or one that sent a file; else :class:`UnknownUnit` naming the closest codes it knows."""
    from ingest.normalize import to_halfwidth

    code = to_halfwidth(unit_code).strip().upper()
    known = {
        row[0]
        for row in con.execute(
            "select reporting_unit_code from marts.dim_reporting_unit union "
            "select reporting_unit_code from audit.ingest_files where reporting_unit_code is not null"
        ).fetchall()
    }
    if code in known:
        return code
    close = difflib.get_close_matches(code, sorted(known), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownUnit(
        f"no reporting unit {unit_code!r} in the published warehouse (neither registered nor the sender of a "
        f"file); {hint}marts.dim_reporting_unit lists the {len(known)} units it knows"
    )


def unit_quality_report(paths: Paths, unit_code: str) -> dict[str, list[tuple]]:
    """What a reform office sends back to a unit: its refused rows and the rows that failed checks.

    Raises :class:`UnknownUnit` for a code the warehouse does not know (a typo must not read as a clean
    report)."""
    with contextlib.closing(duckdb.connect(str(paths.published), read_only=True)) as con:
        unit_code = _known_unit(con, unit_code)
        quarantined = con.execute(
            """
            select q.file_name, q.source_sheet, q.source_row_number, q.reason_code, q.message, q.raw_values
            from audit.quarantine as q
            join audit.ingest_files as f using (file_sha256)
            where f.reporting_unit_code = ? or (f.reporting_unit_code is null and q.raw_values like ?)
            order by q.file_name, q.source_row_number
            """,
            [unit_code, f"%{unit_code}%"],
        ).fetchall()
        failed = con.execute(
            f"""
            select severity, rule, period_id, indicator_code, value
            from audit.validation_failures
            where run_id = {LATEST_VALIDATION_RUN} and reporting_unit_code = ?
            order by severity, rule, period_id, indicator_code
            """,
            [unit_code],
        ).fetchall()
    return {"unit": unit_code, "quarantined": quarantined, "failed_checks": failed}


def print_unit_report(paths: Paths, unit_code: str, say: Callable[[str], None] = print) -> int:
    if not paths.published.exists():
        say(f"no published warehouse at {paths.published}; run `reform build` first")
        return 2
    try:
        report = unit_quality_report(paths, unit_code)
    except UnknownUnit as err:
        say(f"error: {err}")
        return 2
    say(f"data-quality report for {report['unit']}")
    say(f"rows refused at ingest: {len(report['quarantined'])}")
    for file_name, sheet, row, reason, message, _raw in report["quarantined"]:
        say(f"  {file_name} [{sheet}] row {row}: {reason} - {message}")
    say(f"rows that failed checks in the latest build: {len(report['failed_checks'])}")
    for severity, rule, period, indicator, value in report["failed_checks"]:
        say(f"  {severity}: {period} {indicator} = {value}: {rule}")
    return 0
