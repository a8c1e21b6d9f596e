"""Scale-out by province: build each province's shard on its own machine, then roll them up nationally.

A build sharded by province (``reform build --sharded``, DAG ``reform_nightly_sharded``) is the
ordinary build split in two stages, sharing nothing but the ``REFORM_HOME`` volume::

    warehouse/build/<run_id>/
      shards/plan.json, plan*.parquet    the plan: the lake's committed files, which shards, rows per shard
      shards/<shard>/reform.duckdb       a shard's own build: that province's lake rows, dbt build, GX
      shards/<shard>/export/<schema>.<table>.parquet   what the national roll-up reads from the shard
      shards/<shard>/manifest.json       written last: the shard is complete (rows loaded and exported)
      reform.duckdb                      the national roll-up: then validated and published as usual

**Routing.** Every row of the lake goes to exactly one shard (:func:`plan` counts them and every
step checks the counts, so nothing is lost or loaded twice). A shard is a province (``xx0000``) or
``000000``, the national shard, which always exists:

- a row with a ``region_code`` (submissions, microdata of enterprises, workers, wages and survey
  responses, the unit register) goes to the province its region lies in, following the regions seed
  up its parents (historical codes through their historical parents); a region that is null,
  national (``000000``) or not in the seed goes to ``000000``;
- a received file's record (``audit/ingest_files``) goes to its reporting unit's province (seed or
  register), and the rows without a region of that file (quarantine, trainings, certifications)
  follow it; a file of no unit (microdata, unreadable files) goes to ``000000``;
- everything else (the validation history, task failures) goes to ``000000``.

The plan snapshots the lake: only files whose commit marker existed when it was made are loaded, so
shards built minutes apart on different machines read the same lake.

**What a shard exports, and how the roll-up reads it.** Each shard runs the whole ``dbt build`` on
its rows (its own marts and data tests) and the Great Expectations checkpoints (a
critical failure fails the shard, and nothing is published). It then exports, as Parquet, the lake
tables the roll-up needs as rows - the small ones and the ones without a region of their own - and,
for the three large row sources, the shard's *cleaned* output instead of its raw rows
(:data:`CLEANED`). The roll-up loads the first into ``raw`` and sees the second as views in a schema
``shards``; dbt, with var ``reform_input: shards``, reads those three outputs in place of recomputing
them (macro ``reform_reads_shards``), and every other model is the same SQL over the same inputs.
That makes the national marts equal to an unsharded build's, row for row:

- ``marts.fct_indicator_observation``: a version history is keyed by unit, region, period and
  indicator; all rows of a region go to one shard, so each history was numbered whole there, and the
  union of the shards' rows is the national table;
- ``staging.int_workers_deduplicated`` / ``int_enterprises_deduplicated``: a worker (an enterprise)
  may have records in two provinces in one year. Each shard keeps its latest record per worker and
  year; the roll-up ranks those again in the same total order (receipt, file, row: macro
  ``reform_latest_record_first``), and the latest of the latest records is the latest record.

What must see every province - roll-ups to the nation, disclosure control (small counts are
suppressed only after the national counts are formed, never summed from suppressed cells), survey
estimates and wage quartiles that pool rows across regions, trainings and certifications placed
through the national worker register - is therefore computed once, in the roll-up, from unsuppressed
rows. The roll-up never opens the lake's raw submissions, worker or enterprise files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest import lake, warehouse
from ingest.config import SEEDS_DIR, WAREHOUSE_FILE_NAME, Paths, duckdb_build_config

log = logging.getLogger(__name__)

NATIONAL = "000000"
"""The national shard: rows that lie in no province, and the lake's national audit tables."""

CLEANED: dict[str, str] = {
    "raw.submissions": "marts.fct_indicator_observation",
    "raw.workers": "staging.int_workers_deduplicated",
    "raw.enterprises": "staging.int_enterprises_deduplicated",
}
"""Lake table → the shard's cleaned output that the roll-up reads instead of the table's rows."""

ROLL_UP_VARS: dict[str, object] = {"reform_input": "shards"}


# --- layout -----------------------------------------------------------------------------------


def shards_dir(paths: Paths, run_id: str) -> Path:
    return paths.builds / run_id / "shards"


def shard_build_path(paths: Paths, run_id: str, shard: str) -> Path:
    return shards_dir(paths, run_id) / shard / WAREHOUSE_FILE_NAME


def exported_tables() -> list[str]:
    """What every shard exports: the lake tables the roll-up loads as rows, then the cleaned outputs."""
    return [table for table in lake.LAKE_TABLES if table not in CLEANED] + list(CLEANED.values())


def export_path(paths: Paths, run_id: str, shard: str, table: str) -> Path:
    return shards_dir(paths, run_id) / shard / "export" / f"{table}.parquet"


# --- routing ----------------------------------------------------------------------------------


def region_provinces(seeds_dir: Path = SEEDS_DIR) -> dict[str, str]:
    """Region code → the province it lies in (a province → itself), from the regions seed's parents.

    The national root and codes above or outside any province are absent: their rows go to ``000000``.
    """
    from ingest.reference import read_seed

    regions = {row["region_code"]: row for row in read_seed("regions", seeds_dir)}
    provinces: dict[str, str] = {}
    for code in regions:
        current, seen = code, set()
        while current in regions and current not in seen:
            seen.add(current)
            if regions[current]["level"] == "province":
                provinces[code] = current
                break
            current = regions[current]["parent_code"]
    return provinces


def _routing(table: str) -> str:
    """How a lake table's rows are routed: by their region, by their file, or all to ``000000``."""
    names = set(lake.LAKE_TABLES[table][1].names)
    if "region_code" in names:
        return "region"
    return "file" if "file_sha256" in names else "national"


def shard_filters(shard: str, provinces: dict[str, str]) -> dict[str, str]:
    """``lake.load_into`` conditions selecting one shard's rows of every lake table.

    Regions are listed as literals (DuckDB pushes the list into the Parquet scan); received files are
    looked up in the temp table ``_shard_files`` that :func:`_create_routing_tables` creates.
    """

    def codes(selected: list[str]) -> str:
        return ", ".join("'" + code.replace("'", "''") + "'" for code in sorted(selected)) or "null"

    filters: dict[str, str] = {}
    for table in lake.LAKE_TABLES:
        routing = _routing(table)
        if routing == "region" and shard == NATIONAL:
            filters[table] = f"region_code is null or region_code not in ({codes(list(provinces))})"
        elif routing == "region":
            filters[table] = f"region_code in ({codes([r for r, p in provinces.items() if p == shard])})"
        elif routing == "file" and shard == NATIONAL:
            filters[table] = (
                "file_sha256 is null or file_sha256 not in "
                f"(select file_sha256 from _shard_files where shard <> '{NATIONAL}')"
            )
        elif routing == "file":
            filters[table] = f"file_sha256 in (select file_sha256 from _shard_files where shard = '{shard}')"
        elif shard != NATIONAL:
            filters[table] = "false"
    return filters


def _route_counts_sql(table: str) -> str:
    """Rows per shard of one lake table (the same rules as :func:`shard_filters`, as a grouping)."""
    source = "read_parquet(?, union_by_name = true) as t"
    match _routing(table):
        case "region":
            return (
                f"select coalesce(p.province, '{NATIONAL}') as shard, count(*) from {source} "
                "left join _shard_regions as p on t.region_code = p.region_code group by 1"
            )
        case "file":
            return (
                f"select coalesce(f.shard, '{NATIONAL}') as shard, count(*) from {source} "
                "left join _shard_files as f on t.file_sha256 = f.file_sha256 group by 1"
            )
    return f"select '{NATIONAL}' as shard, count(*) from {source}"


def _create_routing_tables(con, provinces: dict[str, str], files: pa.Table | None = None) -> None:
    """``_shard_regions`` (region → province) and ``_shard_files`` (received file → shard), as temp tables."""
    regions = pa.table(  # noqa: F841 - read by DuckDB's replacement scan
        {"region_code": pa.array(list(provinces), pa.string()), "province": pa.array(provinces.values(), pa.string())}
    )
    con.execute("create or replace temp table _shard_regions as select * from regions")
    if files is not None:
        con.execute("create or replace temp table _shard_files as select file_sha256, shard from files")


def _snapshot(lake_dir: Path) -> dict[str, list[Path]]:
    """The lake's files per table that a build may read: the outputs of committed received files (their
    ``ingest_files`` record file exists: it is written last) and every file of the other folders."""
    committed = lake.committed_names(lake_dir)
    return {table: lake.table_files(lake_dir, table, committed) for table in lake.LAKE_TABLES}


# --- the plan ---------------------------------------------------------------------------------


def plan(paths: Paths, run_id: str) -> dict[str, object]:
    """Snapshot and route the lake: the shards to build (the provinces present, and ``000000``) and the
    rows each must load. Written to ``shards/plan.json``, ``plan.parquet`` (the snapshot's files) and
    ``plan_files.parquet`` (each received file's shard), which every machine reads."""
    paths.ensure()
    directory = shards_dir(paths, run_id)
    if directory.exists():  # a retried plan starts over
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    # the date every shard and the roll-up are judged at: fixed here, once for the sharded build
    (paths.builds / run_id / warehouse.AS_OF_FILE).unlink(missing_ok=True)
    warehouse.build_as_of_date(paths.builds / run_id)

    from ingest.intake import finish_interrupted_writes
    from ingest.reference import load_reference

    finish_interrupted_writes(paths)  # as a full build does first (warehouse.prepare)
    inventoried_at = time.time()  # see warehouse._refuse_if_outdated
    snapshot = _snapshot(paths.lake)
    units = load_reference(lake=paths.lake).units  # the seed's units and the registered ones → region
    provinces = region_provinces()
    rows: dict[str, dict[str, int]] = {}
    with contextlib.closing(duckdb.connect()) as con:
        _create_routing_tables(con, provinces)
        units_table = pa.table(  # noqa: F841 - read by DuckDB's replacement scan
            {"unit": pa.array(list(units), pa.string()), "region_code": pa.array(units.values(), pa.string())}
        )
        files = pa.table({"file_sha256": pa.array([], pa.string()), "shard": pa.array([], pa.string())})
        if snapshot["raw.ingest_files"]:  # a received file goes where its reporting unit is
            files = con.sql(
                f"""
                select m.file_sha256, coalesce(r.province, '{NATIONAL}') as shard
                from read_parquet(?, union_by_name = true) as m
                left join units_table as u on m.reporting_unit_code = u.unit
                left join _shard_regions as r on u.region_code = r.region_code
                order by 1
                """,
                params=[[str(f) for f in snapshot["raw.ingest_files"]]],
            ).to_arrow_table()
        _create_routing_tables(con, provinces, files)
        for table, table_files in snapshot.items():
            if table_files:
                query = _route_counts_sql(table)
                for shard, count in con.execute(query, [[str(f) for f in table_files]]).fetchall():
                    rows.setdefault(shard, {})[table] = count
    shards = sorted({*rows, NATIONAL})
    rows = {shard: {table: rows.get(shard, {}).get(table, 0) for table in lake.LAKE_TABLES} for shard in shards}
    snapshot_table = pa.table(
        {
            "lake_table": [table for table, table_files in snapshot.items() for _ in table_files],
            "stem": [f.stem for table_files in snapshot.values() for f in table_files],
        }
    )
    pq.write_table(snapshot_table, directory / "plan.parquet")
    pq.write_table(files, directory / "plan_files.parquet")
    planned = {
        "run_id": run_id,
        "planned_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inventoried_at": inventoried_at,
        "shards": shards,
        "rows": rows,
        "lake_rows": {table: sum(rows[shard][table] for shard in shards) for table in lake.LAKE_TABLES},
    }
    _write_json(directory / "plan.json", planned)
    log.info("build %s: %d shards %s", run_id, len(shards), shards)
    return planned


def read_plan(paths: Paths, run_id: str) -> dict[str, object]:
    path = shards_dir(paths, run_id) / "plan.json"
    if not path.exists():
        raise FileNotFoundError(f"no plan for the sharded build {run_id} at {path}")
    return json.loads(path.read_text(encoding="utf-8"))


# --- one shard --------------------------------------------------------------------------------


def prepare_shard(paths: Paths, run_id: str, shard: str) -> tuple[Path, dict[str, int]]:
    """A fresh ``shards/<shard>/reform.duckdb`` holding only that shard's rows of the planned lake files."""
    planned = read_plan(paths, run_id)
    if shard not in planned["shards"]:
        raise ValueError(f"{shard} is not a shard of build {run_id}: {', '.join(planned['shards'])}")
    target = shard_build_path(paths, run_id, shard)
    target.parent.mkdir(parents=True, exist_ok=True)  # emptied by build_shard (an earlier try's files)
    for leftover in (target, target.with_name(target.name + ".wal")):  # prepared alone twice
        leftover.unlink(missing_ok=True)
    directory = shards_dir(paths, run_id)
    stems = set(pq.read_table(directory / "plan.parquet", columns=["stem"]).column("stem").to_pylist())
    files = pq.read_table(directory / "plan_files.parquet")
    provinces = region_provinces()
    with contextlib.closing(duckdb.connect(str(target), config=duckdb_build_config(target.parent / "spill"))) as con:
        _create_routing_tables(con, provinces, files)
        with lake.rewrite_lock(paths.lake, shared=True):  # no segment rewritten halfway through the load
            counts = lake.load_into(con, paths.lake, only=stems, where=shard_filters(shard, provinces))
    expected = planned["rows"][shard]
    if counts != expected:
        changed = {t: (counts.get(t), n) for t, n in expected.items() if counts.get(t) != n}
        raise warehouse.BuildError(
            f"shard {shard} of build {run_id} loaded other rows than planned (loaded, planned): {changed}. "
            "The lake changed under the build (a backfill or a new register?): run the build again."
        )
    log.info("build %s, shard %s: loaded %s", run_id, shard, counts)
    return target, counts


def validate_shard(paths: Paths, run_id: str, shard: str) -> list[dict[str, object]]:
    """The checkpoints on one shard; results to ``lake/audit/validation_shard/<run_id>-<shard>.parquet``.

    Raises :class:`warehouse.PublishBlocked` on a critical failure (the build is not published).
    """
    from ingest import validation

    build = shard_build_path(paths, run_id, shard)
    shard_run = f"{run_id}-{shard}"
    results = validation.validate_warehouse(build, shard_run, results_dir=build.parent / "gx")
    failures = validation.collect_failures(build, shard_run, results)
    if results:
        lake.write_validation_results(paths.lake, shard_run, results, failures, stage="shard")
    critical = [r for r in results if not r["success"] and r["severity"] == "critical"]
    if critical:
        names = "; ".join(f"{r['suite']}: {r['description']} ({r['unexpected_count']} rows)" for r in critical)
        raise warehouse.PublishBlocked(
            f"critical validation failed in shard {shard}: build {run_id} will not be published; the previous "
            f"warehouse stays. {names}. Failing rows: lake/audit/validation_failures_shard/{shard_run}.parquet",
            critical,
        )
    return results


def shards_verdict(
    paths: Paths, run_id: str, shards: list[str], suites: set[str]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The shards' results of ``suites`` as the roll-up's own, with their failing rows.

    For the raw suites of the rows that stay in the shards (:data:`CLEANED`): the roll-up's tables of
    those rows are empty, so its own checks of them would pass on nothing. Each expectation becomes one
    result: failed if it failed in any shard, its counts summed over the shards, its sample from the
    shards that failed it, ``carried_from_run_id`` naming the shards' runs.
    """
    merged: dict[tuple[object, ...], dict[str, object]] = {}
    failures: list[dict[str, object]] = []
    audit = paths.lake / "audit"
    shard_runs = [f"{run_id}-{shard}" for shard in shards]
    for shard_run in shard_runs:
        path = audit / "validation_shard" / f"{shard_run}.parquet"
        if not path.exists():
            raise warehouse.BuildError(
                f"build {run_id}: no validation results of shard run {shard_run} ({path}); build that shard again"
            )
        for row in pq.read_table(path).to_pylist():
            if row["suite"] not in suites:
                continue
            key = tuple(row[k] for k in ("suite", "batch", "expectation", "column_name", "severity", "description"))
            total = merged.get(key)
            if total is None:
                merged[key] = {**row, "run_id": run_id, "carried_from_run_id": ", ".join(shard_runs)}
                if row["success"]:
                    merged[key]["unexpected_sample"] = "[]"
                continue
            total["validated_at"] = max(total["validated_at"], row["validated_at"])
            for count in ("unexpected_count", "element_count"):
                if row[count] is not None:
                    total[count] = (total[count] or 0) + row[count]
            if not row["success"]:
                sample = json.loads(total["unexpected_sample"] or "[]") if not total["success"] else []
                sample += json.loads(row["unexpected_sample"] or "[]")
                total["unexpected_sample"] = json.dumps(sample[:10], ensure_ascii=False)
                total["success"] = False
        failed_rows = audit / "validation_failures_shard" / f"{shard_run}.parquet"
        if failed_rows.exists():
            rows = pq.read_table(failed_rows).to_pylist()
            failures += [{**row, "run_id": run_id} for row in rows if row["suite"] in suites]
    return list(merged.values()), failures


def export_shard(paths: Paths, run_id: str, shard: str) -> dict[str, int]:
    """Write what the roll-up reads (:func:`exported_tables`) to ``shards/<shard>/export/``; rows per table."""
    build = shard_build_path(paths, run_id, shard)
    rows: dict[str, int] = {}
    with contextlib.closing(duckdb.connect(str(build), read_only=True)) as con:
        for table in exported_tables():
            target = export_path(paths, run_id, shard, table)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = lake.temporary_path(target)
            con.execute(f"copy (select * from {table}) to '{tmp}' (format parquet, compression zstd)")
            os.replace(tmp, target)
            rows[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
    return rows


def build_shard(
    paths: Paths,
    run_id: str,
    shard: str,
    dbt_vars: dict[str, object] | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, object]:
    """One shard, start to end: prepare → dbt build → validate → export → ``manifest.json`` (written last).

    In the shard's folder, held for the whole shard (:func:`warehouse.working_in`): a retried shard starts
    over, and is refused while an earlier try's process still works there."""
    with warehouse.working_in(shard_build_path(paths, run_id, shard).parent, f"shard {shard} of build {run_id}"):
        return _build_shard(paths, run_id, shard, dbt_vars, progress)


def _build_shard(
    paths: Paths,
    run_id: str,
    shard: str,
    dbt_vars: dict[str, object] | None,
    progress: Callable[[str], None],
) -> dict[str, object]:
    timings: dict[str, float] = {}
    step = time.perf_counter()
    build, counts = prepare_shard(paths, run_id, shard)
    timings["prepare"] = time.perf_counter() - step
    progress(f"  loaded {sum(counts.values()):,} lake rows; dbt build")

    step = time.perf_counter()
    nodes = warehouse.run_dbt(build, ["build", *warehouse.BUILD_EXCLUDES], dbt_vars, run_dir=paths.builds / run_id)
    timings["dbt"] = time.perf_counter() - step
    progress(f"  {nodes} dbt nodes; Great Expectations checkpoints")

    step = time.perf_counter()
    results = validate_shard(paths, run_id, shard)
    timings["validate"] = time.perf_counter() - step

    step = time.perf_counter()
    exported = export_shard(paths, run_id, shard)
    timings["export"] = time.perf_counter() - step
    manifest = {
        "run_id": run_id,
        "shard": shard,
        "host": socket.gethostname(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "raw_rows": counts,
        "exported_rows": exported,
        "dbt_nodes": nodes,
        "expectations": len(results),
        "warnings": sum(1 for r in results if not r["success"]),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    _write_json(build.parent / "manifest.json", manifest)
    progress(f"  exported {sum(exported.values()):,} rows in {sum(timings.values()):.0f}s")
    return manifest


def read_manifest(paths: Paths, run_id: str, shard: str) -> dict[str, object]:
    path = shards_dir(paths, run_id) / shard / "manifest.json"
    if not path.exists():
        raise warehouse.BuildError(f"shard {shard} of build {run_id} has not finished (no {path})")
    return json.loads(path.read_text(encoding="utf-8"))


# --- the national roll-up ---------------------------------------------------------------------


def prepare_roll_up(paths: Paths, run_id: str) -> tuple[Path, dict[str, int]]:
    """The national build file from the shards' exports (never from the lake), after checking that every
    planned shard finished and that their rows add up to the plan's."""
    planned = read_plan(paths, run_id)
    shards = list(planned["shards"])
    manifests = {shard: read_manifest(paths, run_id, shard) for shard in shards}
    for shard, manifest in manifests.items():
        if manifest["raw_rows"] != planned["rows"][shard]:
            raise warehouse.BuildError(f"shard {shard} of build {run_id} loaded other rows than planned")
    for table, total in planned["lake_rows"].items():
        loaded = sum(int(m["raw_rows"].get(table, 0)) for m in manifests.values())
        if loaded != total:
            raise warehouse.BuildError(f"{table}: the shards loaded {loaded} rows, the lake has {total}")

    target = warehouse.build_path_for(paths, run_id)
    for leftover in (target, target.with_name(target.name + ".wal"), target.parent / "target", target.parent / "logs"):
        if leftover.is_dir():  # a retried roll-up starts over; the shards stay
            shutil.rmtree(leftover)
        else:
            leftover.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    with contextlib.closing(duckdb.connect(str(target), config=duckdb_build_config(target.parent / "spill"))) as con:
        con.execute("create schema if not exists raw")
        con.execute("create schema if not exists shards")
        for table, (_, schema) in lake.LAKE_TABLES.items():
            empty = pa.Table.from_pylist([], schema=schema)  # noqa: F841 - read by DuckDB's replacement scan
            con.execute(f"create or replace table {table} as select * from empty")
            if table not in CLEANED:
                files = [str(export_path(paths, run_id, shard, table)) for shard in shards]
                con.execute(f"insert into {table} by name select * from read_parquet(?, union_by_name = true)", [files])
            counts[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
        for output in CLEANED.values():
            view = "shards." + output.split(".", 1)[1]
            files = ", ".join(f"'{export_path(paths, run_id, shard, output)}'" for shard in shards)
            con.execute(f"create or replace view {view} as select * from read_parquet([{files}])")
            counts[view] = con.execute(f"select count(*) from {view}").fetchone()[0]
    from ingest.incremental import Plan

    # beside the build file, as an unsharded build's: when its lake was read, for the publish step
    Plan(
        "full",
        f"a sharded build of {len(shards)} shards",
        inventoried_at=float(planned.get("inventoried_at") or 0),
        shards=shards,
    ).write(target.parent)
    log.info("build %s: national roll-up of %d shards %s", run_id, len(shards), counts)
    return target, counts


def build_roll_up_models(build_path: Path, dbt_vars: dict[str, object] | None = None) -> int:
    """``dbt build`` and docs of the roll-up (var ``reform_input: shards``), then drop the ``shards`` views:
    the published file must not point at the build's folders.

    The dbt unit tests are left out, as in every build (:data:`ingest.warehouse.BUILD_EXCLUDES`).
    """
    dbt_vars = {**(dbt_vars or {}), **ROLL_UP_VARS}
    nodes = warehouse.run_dbt(build_path, ["build", *warehouse.BUILD_EXCLUDES], dbt_vars)
    warehouse.run_dbt(build_path, ["docs", "generate", "--static"], dbt_vars)
    with contextlib.closing(duckdb.connect(str(build_path))) as con:
        con.execute("drop schema if exists shards cascade")
        con.execute("checkpoint")
    return nodes


def build_sharded(
    paths: Paths,
    run_id: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
    dbt_vars: dict[str, object] | None = None,
) -> warehouse.BuildReport:
    """``reform build --sharded``: what reform_nightly_sharded runs, in this process, one shard after the
    other: plan → every shard → national roll-up → validate → publish."""
    run_id = warehouse.given_run_id(paths, run_id)
    report = warehouse.BuildReport(run_id, warehouse.build_path_for(paths, run_id))
    started = time.perf_counter()
    planned = plan(paths, run_id)
    shards = list(planned["shards"])
    progress(f"[build {run_id}] {len(shards)} shards: {', '.join(shards)}")
    for number, shard in enumerate(shards, 1):
        progress(f"[shard {shard} {number}/{len(shards)}] loading its rows of the lake")
        build_shard(paths, run_id, shard, dbt_vars, progress)
    report.timings["shards"] = time.perf_counter() - started

    step = time.perf_counter()
    progress("[roll-up] national build from the shards' exports: dbt build and docs")
    report.build_path, counts = prepare_roll_up(paths, run_id)
    report.raw_counts = dict(planned["lake_rows"])
    report.dbt_nodes = build_roll_up_models(report.build_path, dbt_vars)
    report.timings["roll_up"] = time.perf_counter() - step
    log.info("build %s: roll-up inputs %s", run_id, counts)

    step = time.perf_counter()
    progress("[roll-up] Great Expectations checkpoints")
    report.validations = warehouse.validate(paths, run_id, report.build_path)
    report.timings["validate"] = time.perf_counter() - step
    if report.critical_failures:
        names = "; ".join(f"{v['suite']}: {v['expectation']}" for v in report.critical_failures)
        raise warehouse.PublishBlocked(
            f"critical validation failed, build {run_id} NOT published; the previous warehouse stays in place. "
            f"Failed: {names}. Details: audit.validation_results in {report.build_path}",
            report.critical_failures,
        )
    step = time.perf_counter()
    report.published_path = warehouse.publish(paths, run_id)
    report.timings["publish"] = time.perf_counter() - step
    progress(f"[roll-up] published {report.published_path}")
    return report


# --- what the DAG's tasks call (plain arguments in, JSON out) ----------------------------------


def plan_build(run_id: str | None = None) -> dict[str, object]:
    """The sharded build's id and its shards (provinces, and ``000000``), for one mapped task each."""
    planned = plan(Paths.from_env(), run_id or warehouse.new_run_id())
    return {"run_id": planned["run_id"], "provinces": planned["shards"]}


def planned_shards(run_id: str) -> list[str]:
    """The shards of a planned build (provinces, and ``000000``): one mapped task each."""
    return list(read_plan(Paths.from_env(), run_id)["shards"])


def build_province(run_id: str, province: str, dbt_vars: dict[str, object] | None = None) -> dict[str, object]:
    """One mapped task: the shard of one province, built, validated and exported; returns its manifest."""
    return build_shard(Paths.from_env(), run_id, province, dbt_vars, progress=log.info)


def roll_up_build(run_id: str, dbt_vars: dict[str, object] | None = None) -> dict[str, object]:
    """The national roll-up of the shards' exports (then ``validate_build`` and ``publish_build``)."""
    paths = Paths.from_env()
    build_path, counts = prepare_roll_up(paths, run_id)
    nodes = build_roll_up_models(build_path, dbt_vars)
    return {"run_id": run_id, "build_path": str(build_path), "inputs": counts, "dbt_nodes": nodes}


def _write_json(path: Path, value: object) -> None:
    lake.replace_text(path, json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))
