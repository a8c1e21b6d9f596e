"""``make bench``: the pipeline against the plain-DuckDB floor and a pandas peer, on the same data, in one run.

For each scale (``--scales city,province`` by default; ``small`` is what ``make test`` runs):

1. the data: ``reform generate --portal --scale S`` into ``bench/data/<S>`` (kept between runs; made
   again when the generator's code or the seed changes). One day's forms are held back for step 5.
2. the pipeline, stage by stage, each stage in its own process (wall time, peak RSS of the process and
   its children): ``register``, ``ingest`` (``reform ingest --historical``: the function the mapped
   Airflow tasks call), ``prepare`` (lake → build file), ``dbt`` (dbt build + docs), ``validate``
   (Great Expectations), ``publish``.
3. the floor: one hand-written DuckDB SQL script over the same files computing the core marts
   (bench/floor.sql); the peer: the same core marts in pandas (bench/pandas_peer.py).
4. correctness: the three agree on the core marts (bench/compare.py) or the benchmark fails.
5. incremental: the held-back day's forms arrive; ingest + an incremental nightly build
   (``reform build --incremental``: from the published release, only what the new rows reach).

Results go to ``bench/results/<date>.json`` and ``bench/results/<date>.md`` (growth across the scales
run, the issue's targets met or missed). Progress is printed as each stage ends.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from bench.floor import LOADED_KINDS
from ingest.config import PROJECT_ROOT

BENCH_DIR = Path(__file__).resolve().parent
SCALES = ("small", "city", "province")
PIPELINE_STAGES = ("register", "ingest", "prepare", "dbt", "validate", "publish")
GENERATOR_SOURCES = ("ingest/generate_portal.py", "ingest/generate_microdata.py", "ingest/generate.py")
TARGETS = {  # issue #8, for a 2-core, 24 GiB machine
    "pipeline_over_floor_max": 1.5,
    "validation_share_max": 0.25,
    "peak_rss_gib_max": 4.0,
    "pandas_over_pipeline_min": 2.0,
    "incremental_seconds_max": 30.0,
    "cost_per_row_growth_max": 1.1,  # "flat (or falling)": within 10 % from the smaller to the larger scale
}


@dataclass
class Stage:
    name: str
    seconds: float
    peak_rss_mib: float
    rows: int = 0
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


class BenchFailed(RuntimeError):
    """A stage failed or the implementations disagree: the benchmark's numbers mean nothing."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(name: str, argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, dict[str, object]]:
    """Run ``argv``; returns (wall seconds, peak RSS MiB of it and its children, its last JSON line).

    The peak comes from ``wait4``: the largest resident set of the process and of the children it
    waited for. Linux counts the RSS the child had before ``exec`` (this process's), so the harness
    keeps itself small: it never reads a data file whole."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-25:])
        raise BenchFailed(f"stage {name} failed (exit {process.returncode}); log {log}:\n{tail}")
    result: dict[str, object] = {}
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    return seconds, usage.ru_maxrss / 1024, result


def _fingerprint(scale: str, seed: int) -> str:
    digest = hashlib.sha256(f"{scale}/{seed}".encode())
    for source in GENERATOR_SOURCES:
        digest.update((PROJECT_ROOT / source).read_bytes())
    return digest.hexdigest()[:16]


def describe_inputs(data: Path) -> dict[str, object]:
    """Files, bytes and data rows of a generated dataset, by part."""
    parts: dict[str, dict[str, int]] = {}
    for path in sorted((data / "inbox").rglob("*.csv")):
        part = path.parent.name if path.parent.parent.name == "microdata" else "forms"
        entry = parts.setdefault(part, {"files": 0, "bytes": 0, "rows": 0})
        lines = 0
        with path.open("rb") as handle:  # in blocks: the harness stays small (its children's peak RSS
            for block in iter(lambda: handle.read(1 << 20), b""):  # would include its own, see measure())
                lines += block.count(b"\n")
        entry["files"] += 1
        entry["bytes"] += path.stat().st_size
        entry["rows"] += lines - 1 - LOADED_KINDS.get(part, 0)  # header (+ title) rows
    return {
        "parts": parts,
        "files": sum(p["files"] for p in parts.values()),
        "bytes": sum(p["bytes"] for p in parts.values()),
        "rows": sum(p["rows"] for p in parts.values()),
    }


def ensure_data(scale: str, root: Path, seed: int, env: dict[str, str]) -> tuple[Path, dict[str, object]]:
    """The generated dataset of ``scale`` (generated now if missing or made by other generator code)."""
    data = root / scale
    stamp = data / "generated.json"
    fingerprint = _fingerprint(scale, seed)
    if stamp.exists() and json.loads(stamp.read_text())["fingerprint"] == fingerprint:
        return data, json.loads(stamp.read_text())
    shutil.rmtree(data, ignore_errors=True)
    _say(f"[{scale}] generating the data into {data} (kept for the next runs)")
    started = time.perf_counter()
    reform = str(Path(sys.executable).with_name("reform"))
    argv = [reform, "generate", "--portal", "--scale", scale, "--seed", str(seed), "--out", str(data)]
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    info = {"fingerprint": fingerprint, "seconds": time.perf_counter() - started, **describe_inputs(data)}
    stamp.write_text(json.dumps(info, indent=1))
    _say(f"[{scale}] generated {info['files']:,} files, {info['bytes'] / 2**30:.2f} GiB in {info['seconds']:.0f}s")
    return data, info


def held_back_day(data: Path) -> tuple[str, list[Path]]:
    """The forms dated on one day near the end (the day with most forms of the last month): the
    incremental run's arrivals."""
    forms = sorted((data / "inbox").glob("*.csv"))
    last_period = max(p.stem.split("_")[1] for p in forms)
    dated: dict[Path, str] = {}
    for path in forms:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            dated[path] = next(reader)[-1]
    day = Counter(d for p, d in dated.items() if p.stem.split("_")[1] == last_period).most_common(1)[0][0]
    return day, [p for p, d in dated.items() if d == day]


def _link_tree(source: Path, target: Path, skip: set[Path]) -> int:
    count = 0
    for path in source.rglob("*"):
        if path.is_file() and path not in skip:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, destination)
            count += 1
    return count


def _stage_argv(stage: str, home: Path, run_id: str, incremental: bool = False) -> list[str]:
    reform = str(Path(sys.executable).with_name("reform"))
    if stage == "register":
        return [reform, "--home", str(home), "register", str(home / "register-files")]
    if stage == "ingest":
        jobs = str(os.cpu_count() or 1)  # one worker per core, as the mapped Airflow tasks run side by side
        inbox = str(home / "inbox")
        return [reform, "--home", str(home), "ingest", "--historical", "--consume", "--jobs", jobs, "--json", inbox]
    extra = ["--incremental"] if incremental and stage == "prepare" else []
    return [sys.executable, "-m", "bench.stage", stage, "--home", str(home), "--run-id", run_id, *extra]


def run_pipeline(
    home: Path, env: dict[str, str], logs: Path, label: str, rows: int, stages=PIPELINE_STAGES, incremental=False
):
    out: list[Stage] = []
    run_id = f"bench-{label}-{int(time.time())}"
    for stage in stages:
        argv = _stage_argv(stage, home, run_id, incremental)
        seconds, rss, result = measure(stage, argv, env, logs / f"{label}-{stage}.log")
        out.append(Stage(stage, seconds, rss, rows, result))
        _say(f"  {label} {stage:<9} {seconds:8.1f} s  {rss / 1024:5.2f} GiB peak  {rows / seconds:>12,.0f} rows/s")
    return out


def run_scale(scale: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, object]:
    data, inputs = ensure_data(scale, args.data, args.seed, env)
    rows = int(inputs["rows"])  # type: ignore[arg-type]
    home = args.work / scale
    shutil.rmtree(home, ignore_errors=True)
    logs = home / "logs"
    day, arrivals = held_back_day(data)
    _link_tree(data / "inbox", home / "inbox", set(arrivals))
    _link_tree(data / "register", home / "register-files", set())
    _say(f"[{scale}] {rows:,} input rows in {inputs['files']:,} files; holding back {len(arrivals)} forms of {day}")

    pipeline = run_pipeline(home, env, logs, "full", rows)
    total = sum(s.seconds for s in pipeline)
    validate = next(s for s in pipeline if s.name == "validate")

    _link_tree(data / "inbox", home / "inbox", {p for p in (data / "inbox").rglob("*") if p not in set(arrivals)})
    incremental = run_pipeline(home, env, logs, "incremental", len(arrivals), PIPELINE_STAGES[1:], incremental=True)
    plan = next(s for s in incremental if s.name == "prepare").detail
    if plan.get("mode") != "incremental":
        raise BenchFailed(f"[{scale}] the incremental run made a full build: {plan.get('reason')}")
    incremental_total = sum(s.seconds for s in incremental)

    # the floor and the peer read every file, so they are compared with the warehouse that has them all
    as_of, received_on = pipeline_dates(home)
    dates = ["--as-of", str(as_of), "--received-on", str(received_on)]
    floor_s, floor_rss, floor = measure(
        "floor", [*_peer("floor", data, home / "floor.duckdb"), *dates], env, logs / "floor.log"
    )
    _say(f"  floor     {floor_s:8.1f} s  {floor_rss / 1024:5.2f} GiB peak  {rows / floor_s:>12,.0f} rows/s")
    pandas_s, pandas_rss, pandas = measure(
        "pandas", [*_peer("pandas", data, home / "pandas"), *dates], env, logs / "pandas.log"
    )
    pandas_work = float(pandas.get("seconds", pandas_s))  # type: ignore[arg-type]
    _say(f"  pandas    {pandas_work:8.1f} s  {pandas_rss / 1024:5.2f} GiB peak  {rows / pandas_work:>12,.0f} rows/s")

    discrepancies = compare_all(home)
    _say(f"  correctness: {'the three agree' if not discrepancies else f'{len(discrepancies)} discrepancies'}")
    disclosure = disclosure_summary(home)
    _say(f"  worker counts: {disclosure}")
    result = {
        "load_average_at_end": os.getloadavg(),  # other work on the machine makes the numbers slower
        "inputs": inputs,
        "stages": [{**asdict(s), "rows_per_second": s.rows_per_second} for s in pipeline],
        "pipeline": {
            "seconds": total,
            "peak_rss_mib": max(s.peak_rss_mib for s in pipeline),
            "rows_per_second": rows / total,
            "microseconds_per_row": total / rows * 1e6,
            "validation_share": validate.seconds / total,
        },
        "floor": {
            "seconds": floor_s,
            "peak_rss_mib": floor_rss,
            "tables": floor.get("tables"),
            "loaded": floor.get("loaded"),
            "load_seconds": floor.get("load_seconds"),
        },
        "pandas": {
            "seconds": pandas_work,
            "loaded": pandas.get("loaded"),
            "load_seconds": pandas.get("load_seconds"),
            "wall_with_writing": pandas_s,
            "peak_rss_mib": pandas_rss,
            "tables": pandas.get("tables"),
        },
        "ratios": {
            "pipeline_over_floor": total / floor_s,
            "pandas_over_pipeline": pandas_work / total,
            # the first ratio in two parts: the files into the lake (checked cell by cell, quarantined
            # with reasons, ID numbers pseudonymised: work the floor and the peer do not do) and the
            # build from the lake to the published warehouse
            **_parts_over_floor(pipeline, floor_s),
        },
        "correctness": {"agree": not discrepancies, "discrepancies": discrepancies},
        "disclosure": disclosure,
        "incremental": {
            "day": day,
            "forms": len(arrivals),
            "dbt_models": plan.get("models"),
            "seconds": incremental_total,
            "stages": [asdict(s) for s in incremental],
        },
    }
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    if discrepancies:
        raise BenchFailed(f"[{scale}] the implementations disagree:\n  " + "\n  ".join(discrepancies[:30]))
    return result


def _peer(stage: str, data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "bench.stage", stage, "--data", str(data), "--out", str(out)]


def pipeline_dates(home: Path) -> tuple[object, object]:
    """The published warehouse's as-of date and the day it received the worker records."""
    from bench import compare

    con = duckdb.connect()
    try:
        compare.attach_pipeline(con, home / "warehouse" / "reform.duckdb")
        return compare.pipeline_dates(con)
    finally:
        con.close()


def disclosure_summary(home: Path) -> dict[str, int]:
    """The published worker counts by disclosure step: how many cells the exact audit withheld beyond the
    single-sum rule that the floor and the peer apply too."""
    from bench import compare

    con = duckdb.connect()
    try:
        compare.attach_pipeline(con, home / "warehouse" / "reform.duckdb")
        counted = con.execute(
            "select coalesce(suppression, 'published'), count(*) from pipeline.staging.int_worker_counts_audited"
            " group by 1"
        ).fetchall()
        return {str(kind): int(n) for kind, n in counted}
    finally:
        con.close()


def compare_all(home: Path) -> list[str]:
    """Attach the published warehouse and the floor, register the pandas tables, compare."""
    from bench import compare

    con = duckdb.connect()
    try:
        compare.attach_pipeline(con, home / "warehouse" / "reform.duckdb")
        con.execute(f"attach '{home / 'floor.duckdb'}' as floor (read_only)")
        for table in sorted((home / "pandas").glob("*.parquet")):
            con.execute(f"create view pandas_{table.stem} as select * from read_parquet('{table}')")
        return compare.compare(con)
    finally:
        con.close()


INTAKE_STAGES = ("register", "ingest")  # the files into the lake; the stages after them build the warehouse


def _parts_over_floor(pipeline: list[Stage], floor_seconds: float) -> dict[str, float]:
    intake = sum(s.seconds for s in pipeline if s.name in INTAKE_STAGES)
    build = sum(s.seconds for s in pipeline if s.name not in INTAKE_STAGES)
    return {"intake_over_floor": intake / floor_seconds, "build_over_floor": build / floor_seconds}


def growth(results: dict[str, dict[str, object]]) -> dict[str, object]:
    """Microseconds per input row of each stage at each scale, and the change from scale to scale."""
    table: dict[str, dict[str, float]] = {}
    for scale, result in results.items():
        rows = result["inputs"]["rows"]  # type: ignore[index]
        for stage in result["stages"]:  # type: ignore[union-attr]
            table.setdefault(stage["name"], {})[scale] = stage["seconds"] / rows * 1e6
        table.setdefault("pipeline", {})[scale] = result["pipeline"]["microseconds_per_row"]  # type: ignore[index]
        table.setdefault("floor", {})[scale] = result["floor"]["seconds"] / rows * 1e6  # type: ignore[index]
        table.setdefault("pandas", {})[scale] = result["pandas"]["seconds"] / rows * 1e6  # type: ignore[index]
    scales = list(results)
    changes = {
        name: {f"{a}→{b}": per_row[b] / per_row[a] for a, b in itertools.pairwise(scales)}
        for name, per_row in table.items()
    }
    return {"microseconds_per_row": table, "cost_per_row_change": changes}


def check_targets(results: dict[str, dict[str, object]], grown: dict[str, object]) -> list[dict[str, object]]:
    """The issue's targets at the largest scale run (growth: between the two largest)."""
    scale = list(results)[-1]
    r = results[scale]
    rows = [
        ("pipeline ≤ 1.5 × floor", r["ratios"]["pipeline_over_floor"], TARGETS["pipeline_over_floor_max"], "max"),
        (
            "validation ≤ 25 % of the pipeline",
            r["pipeline"]["validation_share"],
            TARGETS["validation_share_max"],
            "max",
        ),
        ("peak RSS ≤ 4 GiB", r["pipeline"]["peak_rss_mib"] / 1024, TARGETS["peak_rss_gib_max"], "max"),
        ("pandas ≥ 2 × the pipeline", r["ratios"]["pandas_over_pipeline"], TARGETS["pandas_over_pipeline_min"], "min"),
        ("incremental nightly ≤ 30 s", r["incremental"]["seconds"], TARGETS["incremental_seconds_max"], "max"),
    ]
    changes = grown["cost_per_row_change"]["pipeline"]  # type: ignore[index]
    if changes:
        step, change = list(changes.items())[-1]
        rows.append((f"cost per row flat or falling ({step})", change, TARGETS["cost_per_row_growth_max"], "max"))
    return [
        {
            "scale": scale,
            "target": name,
            "measured": round(float(value), 3),
            "limit": limit,
            "met": value <= limit if kind == "max" else value >= limit,
        }
        for name, value, limit, kind in rows
    ]


def markdown(report: dict[str, object]) -> str:
    lines = [f"# Benchmark {report['date']}", "", f"Machine: {report['machine']}", "", *_machine_speed(report)]
    for scale, r in report["scales"].items():  # type: ignore[union-attr]
        inputs = r["inputs"]
        lines += [
            f"## {scale}: {inputs['rows']:,} input rows, {inputs['files']:,} files, {inputs['bytes'] / 2**30:.2f} GiB",
            "",
            "| stage | wall (s) | rows/s | peak RSS (GiB) |",
            "|---|---:|---:|---:|",
        ]
        for s in r["stages"]:
            lines.append(
                f"| {s['name']} | {s['seconds']:.1f} | {s['rows_per_second']:,.0f} | {s['peak_rss_mib'] / 1024:.2f} |"
            )
        p = r["pipeline"]
        lines += [
            f"| **pipeline** | **{p['seconds']:.1f}** | {p['rows_per_second']:,.0f} | {p['peak_rss_mib'] / 1024:.2f} |",
            f"| floor (DuckDB SQL) | {r['floor']['seconds']:.1f} | {inputs['rows'] / r['floor']['seconds']:,.0f} | "
            f"{r['floor']['peak_rss_mib'] / 1024:.2f} |",
            f"| pandas | {r['pandas']['seconds']:.1f} | {inputs['rows'] / r['pandas']['seconds']:,.0f} | "
            f"{r['pandas']['peak_rss_mib'] / 1024:.2f} |",
            "",
            f"The floor and the peer first load the microdata no core mart reads, as the pipeline does: "
            f"floor {r['floor'].get('load_seconds') or 0:.1f} s, pandas {r['pandas'].get('load_seconds') or 0:.1f} s "
            "of their times above.",
            "",
            f"pipeline / floor = {r['ratios']['pipeline_over_floor']:.2f}; pandas / pipeline = "
            f"{r['ratios']['pandas_over_pipeline']:.2f}; validation = {p['validation_share']:.0%} of the pipeline; "
            f"core marts agree: {'yes' if r['correctness']['agree'] else 'NO'}; "
            f"incremental ({r['incremental']['forms']} forms of {r['incremental']['day']}): "
            f"{r['incremental']['seconds']:.1f} s ("
            + ", ".join(f"{st['name']} {st['seconds']:.1f}" for st in r["incremental"]["stages"])
            + f"; dbt built {r['incremental'].get('dbt_models')} models)",
            "",
            *_disclosure_line(r),
            *_parts_of_the_ratio(r),
            *_ingest_by_source(r),
        ]
    grown = report["growth"]["microseconds_per_row"]  # type: ignore[index]
    scales = list(report["scales"])  # type: ignore[arg-type]
    lines += ["## Cost per input row (µs)", "", *_grid("stage", scales, grown, "{:.2f}")]
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---:|---|"]
    for t in report["targets"]:  # type: ignore[union-attr]
        lines.append(f"| {t['target']} ({t['scale']}) | {t['measured']} | {'yes' if t['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def _disclosure_line(r: dict[str, object]) -> list[str]:
    counted = r.get("disclosure")
    if not counted:
        return []
    return [
        f"Worker counts published: {sum(counted.values()):,} ({counted.get('published', 0):,} shown; withheld: "
        f"{counted.get('primary', 0):,} small, {counted.get('secondary', 0):,} by the single-sum rule, "
        f"{counted.get('audit', 0):,} by the exact audit, which the floor and the peer do not do - the "
        "comparison takes those as the single-sum rule left them).",
        "",
    ]


def _parts_of_the_ratio(r: dict[str, object]) -> list[str]:
    """pipeline / floor in two parts: the files into the lake, and the build from the lake."""
    ratios = r["ratios"]
    seconds = {s["name"]: s["seconds"] for s in r["stages"]}  # type: ignore[union-attr]
    intake = sum(seconds.get(name, 0.0) for name in INTAKE_STAGES)
    build = sum(seconds.values()) - intake
    return [
        f"Of pipeline / floor: the files into the lake ({' + '.join(INTAKE_STAGES)}: every cell checked, bad rows "
        f"quarantined with their reason, ID numbers pseudonymised) {intake:.1f} s = "
        f"{ratios['intake_over_floor']:.2f} × the floor; the build from the lake (the other stages) "  # type: ignore[index]
        f"{build:.1f} s = {ratios['build_over_floor']:.2f} × the floor.",  # type: ignore[index]
        "",
    ]


PROBE_LABELS = {  # what bench.stage.probe times
    "python": "Python, one core",
    "duckdb_1_thread": "DuckDB, one thread",
    "duckdb_all_threads": "DuckDB, all threads",
}


def _machine_speed(report: dict[str, object]) -> list[str]:
    """The probe before and after the run: how fast this machine was, to compare runs of other days."""
    speed = report.get("machine_speed") or {}
    if not speed:
        return []
    before, after = speed.get("before", {}), speed.get("after", {})  # type: ignore[union-attr]
    cells = [
        f"{text} {before[key]:.2f} → {after.get(key, float('nan')):.2f} s"
        for key, text in PROBE_LABELS.items()
        if key in before
    ]
    return [
        "Machine speed (the same fixed work before → after the run, `python -m bench.stage probe`; lower is "
        "faster): " + "; ".join(cells) + ". Stage times of runs on other days compare only where these are alike.",
        "",
    ]


def _ingest_by_source(r: dict[str, object]) -> list[str]:
    """The full ingest's time per source (``reform ingest --json``): which files the ingest spent it on."""
    ingest = next((s for s in r["stages"] if s["name"] == "ingest"), {})  # type: ignore[union-attr]
    sources = (ingest.get("detail") or {}).get("ingest", {}).get("by_source")
    if not sources:
        return []
    lines = [
        f"Ingest by source (the time each source's files took in the {ingest['detail']['ingest']['jobs']} "
        "workers; CPU counts every thread of a worker):",
        "",
        "| source | files | rows | worker wall (s) | CPU (s) | CPU µs/row |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for source, e in sources.items():
        lines.append(
            f"| {source} | {e['files']:,} | {e['rows']:,} | {e['seconds']:.1f} | {e['cpu_seconds']:.1f} | "
            f"{e['cpu_microseconds_per_row']:.2f} |"
        )
    return [*lines, "", *_microdata_steps(ingest["detail"]["ingest"].get("steps_by_source") or {})]


def _microdata_steps(steps: dict[str, dict[str, float]]) -> list[str]:
    """The microdata sources' worker wall seconds by step of their loads (``reform ingest --json``)."""
    if not steps:
        return []
    names = list(next(iter(steps.values())))  # every source has every step, in the order they run
    lines = [
        "Microdata by step (worker wall seconds; scan: sha256 and the UTF-8 check; transcode: GBK → UTF-8; "
        "read: the CSV read, ID numbers checked and pseudonymised; check: every other cell; dedupe: duplicate "
        "keys; write: the lake's Parquet files):",
        "",
        *_grid("source", names, steps, "{:.1f}"),
    ]
    return [*lines, ""]


def _grid(corner: str, columns: list[str], rows: dict[str, dict[str, float]], number: str) -> list[str]:
    """A markdown table: a row per key of ``rows``, a column per name in ``columns`` (0 where absent)."""
    lines = ["| " + " | ".join([corner, *columns]) + " |", "|---|" + "---:|" * len(columns)]
    for name, values in rows.items():
        lines.append("| " + " | ".join([name, *(number.format(values.get(c, 0.0)) for c in columns)]) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default="city,province", help="comma-separated, smallest first")
    parser.add_argument("--seed", type=int, default=20251)
    parser.add_argument("--data", type=Path, default=BENCH_DIR / "data", help="generated datasets (kept)")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "work", help="the runs' REFORM_HOMEs")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--keep", action="store_true", help="keep each run's REFORM_HOME")
    args = parser.parse_args(argv)
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    unknown = [s for s in scales if s not in SCALES]
    if unknown:
        parser.error(f"unknown scale(s) {', '.join(unknown)}; choose from {', '.join(SCALES)}")
    env = {
        **os.environ,
        "REFORM_PSEUDONYM_KEY": os.environ.get("REFORM_PSEUDONYM_KEY", "benchmark-pseudonym-key"),
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    for name in ("REFORM_HOME", "REFORM_INBOX", "REFORM_LAKE", "REFORM_ARCHIVE", "REFORM_WAREHOUSE_DIR"):
        env.pop(name, None)
    results: dict[str, dict[str, object]] = {}
    speed: dict[str, dict[str, float]] = {}
    try:
        warm_manifest()
        speed["before"] = machine_speed(env, args.work / "probe-before.log")
        for scale in sorted(scales, key=SCALES.index):
            _say(f"[{scale}] benchmark")
            results[scale] = run_scale(scale, args, env)
        speed["after"] = machine_speed(env, args.work / "probe-after.log")
    except BenchFailed as failed:
        _say(f"benchmark FAILED: {failed}")
        return 1
    grown = growth(results)
    report = {
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {_memory_gib():.0f} GiB, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}",
        "machine_speed": speed,
        "scales": results,
        "growth": grown,
        "targets": check_targets(results, grown),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    previous = latest_results(args.results)
    stem = results_stem(args.results, str(report["date"]))
    text = markdown(report) + (compared(report, *previous) if previous else "")
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    _say(text)
    _say(f"results: {stem}.json and {stem}.md")
    return 0


def results_stem(folder: Path, day: str) -> Path:
    """``<day>``, or ``<day>b``, ``<day>c``… when a run of that day is already there (never overwritten)."""
    for suffix in ["", *"bcdefghijklmnopqrstuvwxyz"]:
        stem = folder / f"{day}{suffix}"
        if not stem.with_suffix(".json").exists():
            return stem
    raise BenchFailed(f"{folder} already holds 26 results of {day}; move some away")


def latest_results(folder: Path) -> tuple[str, dict[str, object]] | None:
    """The newest earlier results file (its name and report), or None."""
    files = sorted(folder.glob("*.json"), key=lambda f: (f.stem[:10], len(f.stem), f.stem))
    for path in reversed(files):
        try:
            return path.name, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return None


# the probes' middle change beyond this: the machine's speed differs, compare ratios, not times. One probe
# alone misleads: the Python loop's best of three varies from process to process by up to 80 % on this
# host (the DuckDB probes by about 25 %), so the middle of the three changes is what is judged
SPEED_TOLERANCE = 0.2


def compared(report: dict[str, object], name: str, before: dict[str, object]) -> str:
    """A markdown section: this run against ``before`` (the previous results), scale by scale."""
    lines = ["", f"## Compared with the previous run ({name})", ""]
    speed_now = (report.get("machine_speed") or {}).get("before", {})  # type: ignore[union-attr]
    speed_then = (before.get("machine_speed") or {}).get("before", {})  # type: ignore[union-attr]
    shared = [k for k in PROBE_LABELS if k in speed_now and k in speed_then]
    if not shared:
        lines += [
            "The previous run has no machine-speed probe: its times and these may come from machines of "
            "different speed; the ratios within each run compare.",
            "",
        ]
    else:
        changes = {k: speed_now[k] / speed_then[k] - 1 for k in shared}
        lines += [
            "Machine speed, this run against that one: "
            + ", ".join(f"{k} {change:+.0%}" for k, change in changes.items())
            + (
                f". Beyond ± {SPEED_TOLERANCE:.0%}: the machine's speed differs, compare the ratios, not the times."
                if abs(sorted(changes.values())[len(changes) // 2]) > SPEED_TOLERANCE
                else "."
            ),
            "",
        ]
    for scale, now in report["scales"].items():  # type: ignore[union-attr]
        then = before.get("scales", {}).get(scale)  # type: ignore[union-attr]
        if not then:
            continue
        lines += [f"### {scale}", "", "| | before (s) | this run (s) | change |", "|---|---:|---:|---:|"]
        earlier = _times(then)
        for label, seconds in _times(now).items():
            if earlier.get(label):
                was = earlier[label]
                lines.append(f"| {label} | {was:.1f} | {seconds:.1f} | {seconds / was - 1:+.0%} |")
        for ratio in ("pipeline_over_floor", "pandas_over_pipeline"):
            lines.append(
                f"| {ratio.replace('_', ' ')} (ratio) | {then['ratios'][ratio]:.2f} | {now['ratios'][ratio]:.2f} | |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def _times(r: dict[str, object]) -> dict[str, float]:
    """One scale's seconds by label: each stage, then the pipeline, floor, pandas and incremental night."""
    return {
        **{s["name"]: s["seconds"] for s in r["stages"]},  # type: ignore[union-attr]
        "**pipeline**": r["pipeline"]["seconds"],  # type: ignore[index]
        "floor": r["floor"]["seconds"],  # type: ignore[index]
        "pandas": r["pandas"]["seconds"],  # type: ignore[index]
        "incremental night": r["incremental"]["seconds"],  # type: ignore[index]
    }


def warm_manifest() -> Path:
    """The parsed dbt project the incremental planner reads (:func:`ingest.incremental.downstream`), made
    before any clock starts. In production the scheduler's parse of the nightly DAG has made it before a
    night runs; made inside the first incremental night instead, its ``dbt parse`` (about 7 s) was timed
    as part of the first scale's ``prepare``."""
    from ingest.dbt_cosmos import ensure_manifest

    started = time.perf_counter()
    manifest = ensure_manifest()
    _say(f"  dbt manifest ready in {time.perf_counter() - started:.1f} s (not timed): {manifest.name}")
    return manifest


def machine_speed(env: dict[str, str], log: Path) -> dict[str, float]:
    """The probe's seconds on fixed work (``python -m bench.stage probe``), in its own process."""
    _, _, result = measure("probe", [sys.executable, "-m", "bench.stage", "probe"], env, log)
    result.pop("seconds", None)
    _say("  machine speed: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.items() if k != "rows"))
    return result  # type: ignore[return-value]


def _memory_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as handle:
        return int(handle.readline().split()[1]) / 2**20


if __name__ == "__main__":
    sys.exit(main())
