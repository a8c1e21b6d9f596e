"""One benchmark stage in its own process, so that its wall time and peak memory are its own.

    python -m bench.stage <stage> --home REFORM_HOME --run-id RUN [--data DATA --out OUT]

Stages of the pipeline (the same functions ``reform build`` and the nightly DAG call): ``prepare``
(``--incremental``: as ``reform build --incremental``),
``dbt``, ``validate``, ``publish``; the comparisons: ``floor`` (bench/floor.sql into OUT, a DuckDB
file) and ``pandas`` (bench/pandas_peer.py; its tables written to OUT/<table>.parquet after the clock
stops). Both first load the microdata no core mart reads (``load_seconds``), as the pipeline does.
``probe``: the machine's speed on fixed work (see :func:`probe`), so that runs on different days (or
hosts) can be told apart from changes in the code.
The last line on stdout is a JSON object: what the stage counted and how long its own work took.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb

from ingest import warehouse
from ingest.config import SEEDS_DIR, Paths


def _pipeline(stage: str, paths: Paths, run_id: str, incremental: bool = False) -> dict[str, object]:
    build = warehouse.build_path_for(paths, run_id)
    if stage == "prepare":
        from ingest.incremental import Plan

        _, counts = warehouse.prepare(paths, run_id, incremental=incremental)
        plan = Plan.read(build.parent)
        return {
            "rows": sum(counts.values()),
            "tables": counts,
            "mode": plan.mode,
            "reason": plan.reason,
            "models": len(plan.models),
        }
    if stage == "dbt":
        return {"dbt_nodes": warehouse.build_models(build)}
    if stage == "validate":
        results = warehouse.validate(paths, run_id, build)
        critical = [r for r in results if not r["success"] and r["severity"] == "critical"]
        return {  # nothing beside the pipeline's own work: the stage's wall time is the validation's
            "expectations": len(results),
            "warnings": sum(1 for r in results if not r["success"] and r["severity"] != "critical"),
            "critical_failures": [f"{r['suite']}: {r['expectation']}" for r in critical],
        }
    if stage == "publish":
        warehouse.publish(paths, run_id)
        return {}
    raise ValueError(f"unknown pipeline stage {stage!r}")


PROBE_ROWS = 2_000_000


def probe(rows: int = PROBE_ROWS, repeats: int = 3) -> dict[str, float]:
    """Seconds for fixed work like the pipeline's, on this machine now (lower is faster; the best of
    ``repeats`` tries). The Python loop's best varies from process to process by up to 80 % on the
    development host, the DuckDB work's by about 25 %: read the three together, not one alone.

    ``python``: a loop of string and dict work on one core, as the forms path does per cell;
    ``duckdb_1_thread``: SHA-256 of ``rows`` strings and a distinct count on one thread, as the
    microdata checks do; ``duckdb_all_threads``: the same on every core. The same code and data on a
    slower host (or beside other work) give larger numbers here and in every stage alike.
    """

    def python_loop() -> None:
        lookup = {f"{i:06d}": i for i in range(1000)}
        total = 0
        for i in range(rows // 2):
            text = f"{i % 1000:06d}"
            total += lookup.get(text.strip(), 0) + len(text.upper())

    def best(work: Callable[[], object]) -> float:
        tries = []
        for _ in range(repeats):
            started = time.perf_counter()
            work()
            tries.append(time.perf_counter() - started)
        return round(min(tries), 3)

    timings = {"python": best(python_loop)}
    query = "select sum(hash(sha256(i::varchar))), count(distinct i % 100003) from probe"
    with contextlib.closing(duckdb.connect()) as con:
        con.execute(f"create table probe as select i from range({rows}) t(i)")  # range() scans on one thread
        for label, threads in (("duckdb_1_thread", 1), ("duckdb_all_threads", os.cpu_count() or 1)):
            con.execute(f"set threads = {threads}")
            timings[label] = best(lambda: con.execute(query).fetchall())
    return {**timings, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stage")
    parser.add_argument("stage", choices=["prepare", "dbt", "validate", "publish", "floor", "pandas", "probe"])
    parser.add_argument("--home", type=Path)
    parser.add_argument("--run-id")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat, help="the pipeline's as-of date (floor, pandas)")
    parser.add_argument("--received-on", type=date.fromisoformat, help="the day it received the worker records")
    parser.add_argument("--incremental", action="store_true", help="prepare: an incremental build when safe")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.stage == "probe":
        result = probe()
    elif args.stage == "floor":
        from bench.floor import load_microdata, run_floor

        with contextlib.closing(duckdb.connect(str(args.out))) as con:
            loaded = load_microdata(con, args.data)
            load_seconds = time.perf_counter() - started
            counts = run_floor(con, args.data, SEEDS_DIR, args.as_of, args.received_on)
        result: dict[str, object] = {"tables": counts, "loaded": loaded, "load_seconds": load_seconds}
    elif args.stage == "pandas":
        from bench.pandas_peer import load_microdata, run_pandas

        loaded = load_microdata(args.data)
        load_seconds = time.perf_counter() - started
        frames = run_pandas(args.data, SEEDS_DIR, args.as_of, args.received_on)
        result = {
            "tables": {name: len(frame) for name, frame in frames.items()},
            "loaded": loaded,
            "load_seconds": load_seconds,
        }
        result["seconds"] = time.perf_counter() - started  # the peer's work, before writing its results
        args.out.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            frame.to_parquet(args.out / f"{name}.parquet", index=False)
    else:
        result = _pipeline(args.stage, Paths.from_env(args.home), args.run_id, args.incremental)
    result.setdefault("seconds", time.perf_counter() - started)
    print(json.dumps(result, default=str), flush=True)
    critical = result.get("critical_failures")
    return 1 if critical else 0


if __name__ == "__main__":
    sys.exit(main())
