"""``reform status``: what a data engineer looks at first, as terminal tables.

Last builds, files waiting in the inbox, quarantined rows by reason, failed validations of the latest
run, units late with their latest due submissions, and the age of the published warehouse. Reads the
published warehouse read-only (safe while BI tools read and the nightly build runs).
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import duckdb

from ingest import lake, warehouse
from ingest.config import Paths


def display_width(text: str) -> int:
    """Terminal columns of a string: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned table (CJK-aware), numbers right-aligned."""
    cells = [[("" if v is None else f"{v:,}" if isinstance(v, int) else str(v)) for v in row] for row in rows]
    widths = [max([display_width(h)] + [display_width(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str], numeric: Sequence[bool]) -> str:
        parts = []
        for value, width, right in zip(values, widths, numeric, strict=True):
            pad = " " * (width - display_width(value))
            parts.append(pad + value if right else value + pad)
        return "  ".join(parts).rstrip()

    numeric = [bool(rows) and all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]
    out = [line(list(headers), [False] * len(headers)), line(["-" * w for w in widths], [False] * len(widths))]
    out += [line(row, numeric) for row in cells]
    return "\n".join(out)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def print_status(paths: Paths, say: Callable[[str], None] = print, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    from ingest.intake import inbox_files, readable_name

    waiting, ingested = inbox_files(paths)
    say(f"REFORM_HOME: {paths.home}")
    say(
        f"files waiting in the inbox: {len(waiting)}"
        + (f" (e.g. {', '.join(readable_name(p.name) for p in waiting[:3])})" if waiting else "")
        + (
            f"; {len(ingested)} more already ingested and left there (`reform ingest --consume` moves "
            "what it loads out of the inbox)"
            if ingested
            else ""
        )
    )
    pending = lake.pending_reprocesses(paths.lake)
    if pending:
        say(
            f"reprocessing interrupted midway: {len(pending)} file(s) (e.g. {pending[0]['file_name']}); the next "
            "ingest, build or reprocess reads them again first"
        )
    failed = paths.lake / "audit" / "task_failures"
    failures = [failed / name for name in lake.table_file_names(failed)]
    if failures:  # read from the lake: a failure may be exactly why nothing was published
        recent = duckdb.sql(
            "select failed_at, dag_id, task_id, error_type, what_to_do from read_parquet(?) "
            "order by failed_at desc limit 5",
            params=[[str(f) for f in failures]],
        ).fetchall()
        say("\nrecent task failures (UTC):")
        say(
            table(
                ["failed at", "dag", "task", "error", "what to do"],
                [(f"{t:%Y-%m-%d %H:%M}", d, k, e, w[:70]) for t, d, k, e, w in recent],
            )
        )
    left = [build for build in warehouse.left_builds(paths) if not build.scratch]
    if left:  # at province scale a build's folder holds GBs
        say(
            f"\nbuild folders that never published (running, failed, refused or killed): {len(left)}, "
            f"{sum(b.size_bytes for b in left) / 1e9:.1f} GB; a build removes those not written for a day "
            f"beyond the {warehouse.kept_failed_builds()} last ({warehouse.KEEP_FAILED_BUILDS_ENV})"
        )
        say(
            table(
                ["folder", "last written (UTC)", "MB"],
                [(str(b.path), f"{_utc(b.last_written):%Y-%m-%d %H:%M}", b.size_bytes // 10**6) for b in left[:5]],
            )
        )
    if not paths.published.exists():
        say(f"no published warehouse at {paths.published}; run `reform build`")
        return 2
    age = now - datetime.fromtimestamp(paths.published.stat().st_mtime, UTC)
    current = warehouse.current_release(paths)
    say(f"published warehouse: {paths.published} (release {current}, {_age(age.total_seconds())} old)")

    with contextlib.closing(duckdb.connect(str(paths.published), read_only=True)) as con:
        if lake.table_columns(con, "audit", "build_info"):  # full, or incremental on a release (and why)
            mode, reason = con.execute("select mode, reason from audit.build_info").fetchall()[0]
            say(f"built: {mode} ({reason})")
        runs = con.execute(
            """
            -- max: an incremental run carries its base's results forward with their (earlier) times
            select run_id, max(validated_at),
                   count(*) filter (where success), count(*) filter (where not success and severity = 'critical'),
                   count(*) filter (where not success and severity != 'critical')
            from audit.validation_results group by all order by 2 desc limit 5
            """
        ).fetchall()
        say("\nlast builds (validation runs):")
        published = warehouse.published_runs(paths)
        say(
            table(
                ["run", "validated at (UTC)", "passed", "critical failed", "warnings", "published"],
                [(r, f"{t:%Y-%m-%d %H:%M}", p, c, w, "yes" if r in published else "no") for r, t, p, c, w in runs],
            )
        )

        reasons = con.execute(
            "select reason_code, count(*), count(distinct file_sha256), any_value(message) "
            "from audit.quarantine group by all order by 2 desc"
        ).fetchall()
        say("\nquarantined rows by reason:")
        say(table(["reason", "rows", "files", "example message"], [(r, n, f, m[:60]) for r, n, f, m in reasons]))

        failed = con.execute(
            "select severity, suite, description, unexpected_count from audit.validation_results "
            f"where run_id = {lake.LATEST_VALIDATION_RUN} and not success order by 1, 2"
        ).fetchall()
        say("\nfailed validations in the latest run:" + ("" if failed else " none"))
        if failed:
            say(table(["severity", "suite", "rule", "rows"], failed))

        if lake.table_columns(con, "marts", "fct_reporting_completeness"):
            late = con.execute(
                """
                with latest_due as (
                    select *, row_number() over (
                        partition by reporting_unit_code, indicator_code order by due_date desc) as recency
                    from marts.fct_reporting_completeness
                    where is_due
                )
                select l.reporting_unit_code, u.name_zh,
                       count(*) filter (where not l.is_submitted) as missing,
                       count(*) as due, min(l.due_date) filter (where not l.is_submitted) as oldest_due
                from latest_due as l
                join marts.dim_reporting_unit as u using (reporting_unit_code)
                where l.recency = 1
                group by all
                having count(*) filter (where not l.is_submitted) > 0
                order by missing desc, 1
                limit 10
                """
            ).fetchall()
            say("\nunits late for their latest due period:" + ("" if late else " none"))
            if late:
                say(table(["unit", "name", "missing", "due", "oldest due date"], late))
    return 0


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
