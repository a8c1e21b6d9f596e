"""``reform``: the one entry point that the DAGs, the Makefile and people share.

    reform demo                 sample data → Airflow DAGs → dbt → GX → published warehouse → summary
    reform generate --out DIR   write a deterministic sample inbox
    reform register DIR         register the province's reporting units (beyond the documents' 37)
    reform ingest PATH...       ingest files or folders into the lake; a per-file summary
    reform template --unit U --period P   the xlsx form unit U fills for period P
    reform build                dbt build, validation and publish (what reform_nightly runs)
    reform build --sharded      the same split by province, then rolled up (what reform_nightly_sharded runs)
    reform build --incremental  add what arrived since the published warehouse (a full build when unsafe)
    reform reprocess --from P --to P   re-read archived files of those periods (what reform_backfill runs)
    reform rollback [RUN_ID]    publish an earlier release again
    reform report --region R [--year Y] [--pdf]   the annual report of region R → reports/R_Y.html (+ .pdf)
    reform releases             list the kept releases
    reform summary              headline figures of the published warehouse
    reform status               last builds, files pending, quarantine, failed checks, late units, age
    reform quality --unit U     what to send back to unit U: its refused rows and failed checks

Every location lives under ``REFORM_HOME`` (default: the project folder); ``--home`` overrides it.
Exit codes: 0 success (even with quarantined rows or rejected files), 1 a build or publish was
refused (dbt failure, critical validation), 2 bad usage (an unknown unit, region or run id; no
published warehouse to read yet), 3 a system failure, 141 the reader of the output went away.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import time
from pathlib import Path

from ingest.config import Paths

DEMO_SCALES = ("small", "city")  # ingest.generate.SCALES (not imported here: the CLI starts without it)


def _paths(args: argparse.Namespace) -> Paths:
    if args.home:
        os.environ["REFORM_HOME"] = str(Path(args.home).resolve())
    return Paths.from_env()


class _OutputGone(Exception):
    """Standard output's reader went away (``reform status | head``)."""


def _say(message: str) -> None:
    try:
        print(message, flush=True)
    except BrokenPipeError as gone:  # only here: a broken pipe elsewhere (a socket) is a real failure
        raise _OutputGone from gone


def cmd_generate(args: argparse.Namespace) -> int:
    from ingest.generate import generate

    paths = _paths(args)
    if args.scale == "province" or args.portal:
        from ingest.generate_portal import generate_portal

        out = Path(args.out) if args.out else paths.home / "generated" / args.scale
        parts = generate_portal(out, scale=args.scale, seed=args.seed, progress=_say)
        _say(
            f"wrote {sum(len(v) for v in parts.values()):,} files to {out}: the unit register in {out}/register, "
            f"forms and microdata in {out}/inbox\nnext: reform register {out}/register, then move {out}/inbox/* "
            "into the inbox (or `reform ingest` it)"
        )
        return 0
    out = Path(args.out) if args.out else paths.inbox
    files = generate(out, scale=args.scale, seed=args.seed)
    if args.microdata:
        from ingest.generate_microdata import generate_microdata

        files += generate_microdata(out / "microdata", scale=args.scale, seed=args.seed)
    _say(f"wrote {len(files)} files to {out}")
    return 0


def _progress(name: str):
    """Progress of a long load (microdata) on stderr: rewritten in place on a terminal, else a line every 5 s."""
    tty = sys.stderr.isatty()
    state = {"started": time.perf_counter(), "printed": 0.0, "open": False}

    def report(stage: str, fraction: float) -> None:
        now = time.perf_counter()
        elapsed = now - state["started"]
        line = f"  {name[:40]}: {stage} {fraction:4.0%} ({elapsed:.0f}s)"
        if tty:
            print(f"\r{line}\x1b[K", end="", file=sys.stderr, flush=True)
            state["open"] = True
            if stage == "write" and fraction >= 1.0:
                print(file=sys.stderr)
                state["open"] = False
        elif now - state["printed"] >= 5 and elapsed >= 5:
            print(line, file=sys.stderr, flush=True)
            state["printed"] = now

    return report


def cmd_register(args: argparse.Namespace) -> int:
    from ingest.reference import RegisterError, register

    try:
        units, obligations, replaced = register(Path(args.folder), _paths(args))
    except RegisterError as err:
        _say(f"error: {err}")
        return 2
    _say(
        f"registered {units:,} reporting units with {obligations:,} obligations"
        + (" (replacing the previous register)" if replaced else "")
    )
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.intake import by_source, discover, ingest_parallel, ingest_sequential, step_seconds, steps_by_source
    from ingest.reference import load_reference

    paths = _paths(args)
    targets = [Path(p) for p in args.paths] or [paths.inbox]
    if not args.paths and not paths.inbox.exists():
        _say(
            f"error: there is no inbox at {paths.inbox} yet: put the files to ingest there, or name files or "
            "folders (`reform ingest FILE_OR_DIR…`); `reform generate` writes a sample inbox"
        )
        return 2
    try:
        files = list(discover(targets))
    except FileNotFoundError as err:
        _say(f"error: {err}")
        return 2
    reference = load_reference(lake=paths.lake)
    totals = {"files": 0, "accepted": 0, "quarantined": 0, "rejected": 0, "duplicate": 0}
    started = time.perf_counter()
    _say(f"{'file':<44} {'status':<24} {'rows':>6} {'ok':>6} {'quar.':>6}  note")
    if args.jobs > 1:
        outcomes = ingest_parallel(files, paths, args.jobs, consume=args.consume, historical=args.historical)
    else:
        outcomes = ingest_sequential(
            files, paths, reference, consume=args.consume, historical=args.historical, progress=_progress
        )
    done = []
    for index, outcome in enumerate(outcomes, start=1):
        done.append(outcome)
        # the whole note, wrapped under its column: what to fix comes at the end of a message
        note = textwrap.wrap(outcome.error or "", 80) or [""]
        _say(
            f"{outcome.file_name[:44]:<44} {outcome.status:<24} {outcome.rows_received:>6} "
            f"{outcome.rows_accepted:>6} {outcome.rows_quarantined:>6}  {note[0]}"
        )
        for line in note[1:]:
            _say(f"{'':<92}{line}")
        totals["files"] += 1
        totals["accepted"] += outcome.rows_accepted
        totals["quarantined"] += outcome.rows_quarantined
        totals["rejected"] += outcome.status == "rejected"
        totals["duplicate"] += outcome.status in ("duplicate", "already_processed")
        if len(files) > 20 and index % 20 == 0:
            print(f"  … {index}/{len(files)} files, {time.perf_counter() - started:.0f}s", file=sys.stderr)
    _say(
        f"{totals['files']} files: {totals['accepted']} rows accepted, {totals['quarantined']} quarantined, "
        f"{totals['rejected']} files rejected, {totals['duplicate']} already ingested"
    )
    sources, steps = by_source(done), steps_by_source(done)
    wall = time.perf_counter() - started
    if len(sources) > 1 or wall >= 60:  # where the time went, for a backlog or a long night
        _say(f"\n{'by source':<20} {'files':>7} {'rows':>11} {'seconds':>9} {'CPU s':>8} {'CPU µs/row':>11}")
        for source, e in sources.items():
            _say(
                f"{source:<20} {e['files']:>7,} {e['rows']:>11,} {e['seconds']:>9.1f} {e['cpu_seconds']:>8.1f} "
                f"{e['cpu_microseconds_per_row']:>11.2f}"
            )
        for source, by_step in steps.items():  # where the microdata files' loads spent their time
            _say(f"{source} by step: {step_seconds(by_step)}")
        _say(f"(seconds: in the workers, {args.jobs} at once; the ingest took {wall:.1f} s)")
    if args.json:
        detail = {"seconds": round(wall, 1), "jobs": args.jobs, "by_source": sources, "steps_by_source": steps}
        _say(json.dumps({"ingest": detail | totals}))
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    from ingest.intake import reprocess
    from ingest.normalize import NormalizationError

    paths = _paths(args)
    try:
        outcomes = reprocess(paths, args.period_from, args.period_to)
    except NormalizationError as err:
        _say(f"error: {err}")
        return 2
    if outcomes:
        _say(f"{'file':<44} {'status':<24} {'ok':>6} {'quar.':>6}")
    for o in outcomes:
        _say(f"{o.file_name[:44]:<44} {o.status:<24} {o.rows_accepted:>6} {o.rows_quarantined:>6}")
    _say(f"reprocessed {len(outcomes)} archived files; run `reform build` to rebuild the warehouse")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    import duckdb

    from ingest import warehouse

    paths = _paths(args)
    try:
        if args.sharded:  # by province, one shard after the other, then the national roll-up
            from ingest.shards import build_sharded

            report = build_sharded(paths, run_id=args.run_id, progress=_say)
        else:
            report = warehouse.build(paths, run_id=args.run_id, progress=_say, incremental=args.incremental)
    except warehouse.PublishBlocked as blocked:
        _say(f"NOT PUBLISHED: {blocked}")
        return 1
    except warehouse.BuildError as failed:
        _say(f"BUILD FAILED: {failed}")
        return 1
    except warehouse.RunIdError as err:  # nothing was built
        _say(f"error: {err}")
        return 2
    except duckdb.Error as failed:  # a lake file unreadable, a disk full while loading, …
        reason = str(failed).strip().splitlines()[0] if str(failed).strip() else type(failed).__name__
        _say(
            f"BUILD FAILED in DuckDB ({type(failed).__name__}): {reason}. The published warehouse is unchanged; "
            "the build's folder stays for inspection (`reform status` lists it). Run the build again; if it "
            "fails the same way, the file named above needs a look."
        )
        return 1
    if not any(report.raw_counts.get(t) for t in ("raw.submissions", "raw.ingest_files")) and not args.incremental:
        _say(f"note: the lake at {paths.lake} holds no received files: the warehouse has targets but no data yet")
    _say(
        f"run {report.run_id}: {report.dbt_nodes} dbt nodes, {len(report.validations)} expectations "
        f"({len(report.warnings)} warnings), published {report.published_path}"
    )
    _say("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from ingest.forms import TemplateError, write_template
    from ingest.normalize import NormalizationError

    out = Path(args.out or f"{args.unit}_{args.period}.xlsx")
    try:
        path, rows = write_template(args.unit, args.period, out)
    except (TemplateError, NormalizationError) as err:
        _say(f"error: {err}")
        return 2
    _say(f"wrote {path}: {rows} indicators for {args.unit}, period {args.period}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ingest.report import ChromiumError, ReportError, build_pdf, build_report, latest_full_year

    paths = _paths(args)
    try:
        year = args.year or latest_full_year(paths)
        html = build_report(paths, args.region, year)
        _say(f"wrote {html}")
        if args.pdf:
            _say(f"wrote {build_pdf(html)}")
    except ReportError as err:
        _say(f"error: {err}")
        return 2
    except ChromiumError as err:
        _say(f"system error: {err}")
        return 3
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from ingest import warehouse

    paths = _paths(args)
    try:
        run_id = warehouse.rollback(paths, args.run_id)
    except FileNotFoundError as err:
        _say(f"error: {err}")
        return 2
    _say(f"published release {run_id} again: {paths.published}")
    return 0


def cmd_releases(args: argparse.Namespace) -> int:
    from ingest import warehouse

    paths = _paths(args)
    try:
        if (finished := warehouse.finish_interrupted_publication(paths, wait=False)) is not None:
            _say(f"(a publish or rollback of {finished} had been interrupted; it has been finished or undone)")
    except warehouse.PublicationRunning:  # not waited for: its exports can take minutes
        _say("(a publish or rollback is running now: the release marked * may change when it ends)")
    current = warehouse.current_release(paths)
    releases = warehouse.list_releases(paths)
    if not releases:
        _say(f"no releases in {paths.releases} yet; `reform build` publishes the first")
    for run_id in releases:
        _say(f"{'*' if run_id == current else ' '} {run_id}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from ingest.summary import print_summary

    return print_summary(_paths(args), _say)


def cmd_quality(args: argparse.Namespace) -> int:
    from ingest.summary import print_unit_report

    return print_unit_report(_paths(args), args.unit, _say)


def cmd_status(args: argparse.Namespace) -> int:
    from ingest.status import print_status

    return print_status(_paths(args), _say)


def cmd_demo(args: argparse.Namespace) -> int:
    from ingest.demo import run_demo

    return run_demo(_paths(args), use_airflow=not args.no_airflow, scale=args.scale, say=_say)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reform", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--home", help="REFORM_HOME for this command (default: $REFORM_HOME or the project folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress of every module")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on sample data through the Airflow DAGs")
    demo.add_argument("--no-airflow", action="store_true", help="call the same functions without Airflow")
    demo.add_argument(
        "--scale",
        default="small",
        choices=DEMO_SCALES,
        help="sample data scale (default: small; city: 60 units, 100,000 worker records)",
    )
    demo.set_defaults(func=cmd_demo)

    gen = sub.add_parser("generate", help="write deterministic sample submissions")
    gen.add_argument(
        "--scale",
        default="small",
        choices=["small", "city", "province"],
        help="small: the demo inbox; city: 60 units; province: 1,000 registered units × 60 months and "
        "10 million worker records, in the portal's CSV layout (see --portal)",
    )
    gen.add_argument(
        "--portal",
        action="store_true",
        help="write a unit register plus forms in the reporting portal's CSV layout (the benchmark's data) "
        "to <out>/register and <out>/inbox",
    )
    gen.add_argument("--seed", type=int, default=20251)
    gen.add_argument("--out", help="folder to write to (default: the inbox)")
    gen.add_argument("--microdata", action="store_true", help="also write microdata CSVs to <out>/microdata/<kind>/")
    gen.set_defaults(func=cmd_generate)

    reg = sub.add_parser("register", help="register the province's reporting units and their obligations")
    reg.add_argument("folder", help="folder with reporting_units.csv and reporting_obligations.csv (seed columns)")
    reg.set_defaults(func=cmd_register)

    ing = sub.add_parser("ingest", help="ingest files or folders (default: the inbox) into the lake")
    ing.add_argument("paths", nargs="*", help="files or folders")
    ing.add_argument("--consume", action="store_true", help="remove each file once it is safely archived")
    ing.add_argument(
        "--historical",
        action="store_true",
        help="files received before this system: take the receipt time from each form's 填报日期",
    )
    ing.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="files ingested at once, in worker processes (default 1; use the number of cores for a backlog)",
    )
    ing.add_argument(
        "--json",
        action="store_true",
        help="end with the totals and the time per source as one JSON line (for scripts; the benchmark reads it)",
    )
    ing.set_defaults(func=cmd_ingest)

    tpl = sub.add_parser("template", help="write the xlsx form a unit fills for a period")
    tpl.add_argument("--unit", required=True, help="reporting unit code, e.g. 530700-ZGH")
    tpl.add_argument("--period", required=True, help="period in any spelling: 2025, 2025Q3, 2025年9月 …")
    tpl.add_argument("--out", help="file to write (default: <unit>_<period>.xlsx)")
    tpl.set_defaults(func=cmd_template)

    rep = sub.add_parser("reprocess", help="re-read archived files of a period range with today's code (backfill)")
    rep.add_argument("--from", dest="period_from", default="*", help="first period, any spelling (default: all)")
    rep.add_argument("--to", dest="period_to", default="*", help="last period, any spelling (default: all)")
    rep.set_defaults(func=cmd_reprocess)

    bld = sub.add_parser("build", help="dbt build, validate and publish the warehouse (what the nightly DAG runs)")
    bld.add_argument("--run-id", help="name of this build (default: a timestamp)")
    bld.add_argument(
        "--sharded",
        action="store_true",
        help="split by province, then roll up nationally: what reform_nightly_sharded runs, here sequentially",
    )
    bld.add_argument(
        "--incremental",
        action="store_true",
        help="start from the published warehouse and add only what arrived since (a full build when that "
        "is not safe, saying why)",
    )
    bld.set_defaults(func=cmd_build)

    rpt = sub.add_parser("report", help="the annual monitoring report of a region: reports/<region>_<year>.html")
    rpt.add_argument("--region", required=True, help="GB/T 2260 region code, e.g. 530700 (丽江市)")
    rpt.add_argument("--year", type=int, help="report year (default: the last full year before the as-of date)")
    rpt.add_argument(
        "--pdf", action="store_true", help="also print a PDF with headless Chromium (installed if missing)"
    )
    rpt.set_defaults(func=cmd_report)

    rb = sub.add_parser("rollback", help="publish an earlier release again")
    rb.add_argument("run_id", nargs="?", help="release to restore (default: the one in effect before the current one)")
    rb.set_defaults(func=cmd_rollback)

    rel = sub.add_parser("releases", help="list the kept releases (* = published)")
    rel.set_defaults(func=cmd_releases)

    dq = sub.add_parser("quality", help="a unit's data-quality report: refused rows and failed checks")
    dq.add_argument("--unit", required=True, help="reporting unit code, e.g. 530700-ZGH")
    dq.set_defaults(func=cmd_quality)

    st = sub.add_parser("status", help="last builds, pending files, quarantine, failed checks, late units")
    st.set_defaults(func=cmd_status)

    summ = sub.add_parser("summary", help="headline figures of the published warehouse")
    summ.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except _OutputGone:  # `reform status | head`: the reader has gone; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail on the closed pipe
        return 141  # what a shell reports for a command ended by SIGPIPE
    except OSError as err:
        _say(f"system error: {err}")
        return 3


if __name__ == "__main__":
    sys.exit(main())
