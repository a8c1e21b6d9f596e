"""The core marts in one comparable shape, and the check that the three implementations agree.

The benchmark (issue #8) runs the same generated data through the pipeline, the floor
(``bench/floor.sql``) and a pandas peer (``bench/pandas_peer.py``). :func:`compare` takes one DuckDB
connection on which

- the pipeline's published warehouse is attached read-only as ``pipeline`` (:func:`attach_pipeline`),
- the floor's tables ``floor_<mart>`` exist (:func:`bench.floor.run_floor`), or its database is
  attached as ``floor``,
- the pandas frames are registered as ``pandas_<mart>`` (:func:`register_pandas`),

and checks each core mart of each implementation against the pipeline's: the row count, the sums of
the measures, duplicate keys, then every row - a full outer join on the keys, every column compared
(doubles within 1e-9 relative, everything else exactly, nulls equal to nulls). It returns readable
discrepancy messages, with a few example keys each; an empty list means the three agree.

Canonical shapes: the keys, the measures and the status columns of each mart - what the mart means.
Left out are surrogate ids (md5 of the keys), names and descriptions looked up from the seeds, lineage
the floor cannot know (the file's sha256, the row number in the form, the pseudonymised note), and the
target's own seed columns (comparator, target values, source document), which pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

IMPLEMENTATIONS = ("floor", "pandas")
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_FLOOR = 1e-12  # two doubles within this are equal however small they are (sums of different order)


@dataclass(frozen=True)
class CoreMart:
    name: str
    keys: tuple[str, ...]
    columns: Mapping[str, str]  # canonical column → DuckDB type, keys first
    measures: Mapping[str, str]  # name → aggregate over the canonical columns
    pipeline_sql: str  # the canonical shape over the published warehouse (attached as `pipeline`)

    @property
    def select_list(self) -> str:
        return ", ".join(f"cast({column} as {kind}) as {column}" for column, kind in self.columns.items())


CORE_MARTS: dict[str, CoreMart] = {
    mart.name: mart
    for mart in (
        # the current version of every accepted form cell; `version` is the number of versions received
        CoreMart(
            "observation_current",
            keys=("reporting_unit_code", "region_code", "period_id", "indicator_code"),
            columns={
                "reporting_unit_code": "varchar",
                "region_code": "varchar",
                "period_id": "varchar",
                "indicator_code": "varchar",
                "value": "double",
                "obs_status": "varchar",
                "version": "integer",
                "received_at": "timestamp",
                "file_name": "varchar",
            },
            measures={
                "sum(value)": "sum(value)",
                "count(value)": "count(value)",
                "masked": "count(*) filter (where obs_status = 'masked')",
                "resubmitted": "count(*) filter (where version > 1)",
            },
            pipeline_sql="""
                select reporting_unit_code, region_code, period_id, indicator_code, value, obs_status, version,
                    received_at, file_name
                from pipeline.marts.fct_indicator_observation_current
            """,
        ),
        # one row per target, assessed at the as-of year; descriptive target columns are seed passthrough
        CoreMart(
            "target_progress",
            keys=("target_id",),
            columns={
                "target_id": "varchar",
                "indicator_code": "varchar",
                "region_code": "varchar",
                "progress_method": "varchar",
                "plan_start_year": "integer",
                "actual_value": "double",
                "actual_obs_status": "varchar",
                "actual_year": "integer",
                "actual_period_id": "varchar",
                "actual_is_complete": "boolean",
                "baseline_value": "double",
                "baseline_year": "integer",
                "baseline_source": "varchar",
                "pct_achieved": "double",
                "pace_method": "varchar",
                "years_elapsed": "double",
                "years_total": "double",
                "required_annual_pace": "double",
                "observed_annual_pace": "double",
                "progress_ratio": "double",
                "status": "varchar",
                "status_reason": "varchar",
                "as_of_date": "date",
            },
            measures={
                "sum(actual_value)": "sum(actual_value)",
                "sum(pct_achieved)": "sum(pct_achieved)",
                "sum(progress_ratio)": "sum(progress_ratio)",
                "with actual": "count(actual_value)",
                "achieved": "count(*) filter (where status = 'achieved')",
                "on_track": "count(*) filter (where status = 'on_track')",
                "off_track": "count(*) filter (where status = 'off_track')",
                "no_data": "count(*) filter (where status = 'no_data')",
            },
            pipeline_sql="""
                select target_id, indicator_code, region_code, progress_method, plan_start_year, actual_value,
                    actual_obs_status, actual_year, actual_period_id, actual_is_complete, baseline_value,
                    baseline_year, baseline_source, pct_achieved, pace_method, years_elapsed, years_total,
                    required_annual_pace, observed_annual_pace, progress_ratio, status, status_reason, as_of_date
                from pipeline.marts.fct_target_progress
            """,
        ),
        # one row per expected submission (obligation × period) and whether, when and how often it came
        CoreMart(
            "completeness",
            keys=("reporting_unit_code", "indicator_code", "period_id"),
            columns={
                "reporting_unit_code": "varchar",
                "indicator_code": "varchar",
                "period_id": "varchar",
                "region_code": "varchar",
                "periodicity": "varchar",
                "period_year": "integer",
                "period_end_date": "date",
                "due_date": "date",
                "as_of_date": "date",
                "is_due": "boolean",
                "is_submitted": "boolean",
                "first_received_at": "timestamp",
                "first_received_date": "date",
                "is_on_time": "boolean",
                "days_late": "integer",
                "n_versions": "integer",
                "last_received_at": "timestamp",
            },
            measures={
                "expected and due": "count(*) filter (where is_due)",
                "submitted": "count(*) filter (where is_submitted)",
                "on time": "count(*) filter (where is_on_time)",
                "sum(days_late)": "sum(days_late)",
                "sum(n_versions)": "sum(n_versions)",
            },
            pipeline_sql="""
                select reporting_unit_code, indicator_code, period_id, region_code, periodicity, period_year,
                    period_end_date, due_date, as_of_date, is_due, is_submitted, first_received_at,
                    first_received_date, is_on_time, days_late, n_versions, last_received_at
                from pipeline.marts.fct_reporting_completeness
            """,
        ),
        # workers by year × region × industry section × skill grade with margins, small cells suppressed
        CoreMart(
            "skill_pyramid",
            keys=("year", "region_code", "industry_section_code", "skill_grade_code"),
            columns={
                "year": "integer",
                "region_code": "varchar",
                "industry_section_code": "varchar",
                "skill_grade_code": "varchar",
                "region_level": "varchar",
                "n_workers": "integer",
                "is_suppressed": "boolean",
            },
            measures={
                "sum(n_workers)": "sum(n_workers)",
                "workers in the nation": "sum(n_workers) filter (where region_code = '000000' "
                "and industry_section_code = '_T' and skill_grade_code = '_T')",
                "suppressed": "count(*) filter (where is_suppressed)",
            },
            # The floor and the peer apply the single-sum rule (step 1) only: the cells the pipeline's exact
            # audit withholds as well (suppression 'audit', tested on its own) are compared as step 1 left them.
            pipeline_sql="""
                select pyramid.year, pyramid.region_code, pyramid.industry_section_code, pyramid.skill_grade_code,
                    pyramid.region_level,
                    case when audited.suppression = 'audit' then audited.n_workers else pyramid.n_workers end
                        as n_workers,
                    pyramid.is_suppressed and audited.suppression is distinct from 'audit' as is_suppressed
                from pipeline.marts.fct_skill_grade_pyramid as pyramid
                inner join pipeline.staging.int_worker_counts_audited as audited
                    on pyramid.year = audited.year
                    and pyramid.region_code = audited.region_code
                    and pyramid.industry_section_code = audited.industry_section_code
                    and pyramid.skill_grade_code = audited.skill_grade_code
            """,
        ),
    )
}

# name → the canonical select over the published warehouse (attached as `pipeline`)
PIPELINE_CORE: dict[str, str] = {name: mart.pipeline_sql for name, mart in CORE_MARTS.items()}


def attach_pipeline(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """Attach the published warehouse read-only as ``pipeline``."""
    con.execute(f"attach '{Path(warehouse).resolve()}' as pipeline (read_only)")


def pipeline_as_of(con: duckdb.DuckDBPyConnection) -> object:
    """The as-of date the pipeline's build judged completeness and progress at (pass it to the floor and
    the pandas peer)."""
    return con.execute("select max(as_of_date) from pipeline.marts.fct_reporting_completeness").fetchall()[0][0]


def pipeline_dates(con: duckdb.DuckDBPyConnection) -> tuple[object, object]:
    """(as-of date, day the worker records were received) of the pipeline's build and ingest: pass them
    to ``run_floor`` and ``run_pandas`` as ``as_of`` and ``received_on``."""
    as_of = pipeline_as_of(con)
    received = con.execute(
        "select cast(max(received_at) as date) from pipeline.audit.ingest_files where source_kind = 'workers'"
    ).fetchall()[0][0]
    return as_of, received or as_of


def register_pandas(con: duckdb.DuckDBPyConnection, frames: Mapping[str, object]) -> None:
    """Register the pandas peer's frames (``run_pandas`` output, keyed by core mart name) as
    ``pandas_<mart>``. The frames must stay alive as long as ``con`` reads them."""
    for name, frame in frames.items():
        if name not in CORE_MARTS:
            raise KeyError(f"{name!r} is not a core mart ({', '.join(CORE_MARTS)})")
        con.register(f"pandas_{name}", frame)


def _exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    try:
        con.execute(f"select 1 from {relation} limit 0").fetchall()
    except duckdb.Error:
        return False
    return True


def _relation(con: duckdb.DuckDBPyConnection, implementation: str, name: str) -> str | None:
    """Where ``<implementation>_<mart>`` is: in the default catalog, or in a database attached under the
    implementation's name (``attach 'floor.duckdb' as floor``)."""
    for candidate in (f"{implementation}_{name}", f"{implementation}.{implementation}_{name}"):
        if _exists(con, candidate):
            return candidate
    return None


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int | float) and isinstance(b, int | float):
        a, b = float(a), float(b)
        return abs(a - b) <= RELATIVE_TOLERANCE * max(abs(a), abs(b)) + ABSOLUTE_FLOOR
    return a == b


def _same(column: str, kind: str) -> str:
    left, right = f"p.{column}", f"o.{column}"
    if kind == "double":
        return (
            f"(({left} is null and {right} is null) or abs({left} - {right}) <= "
            f"{RELATIVE_TOLERANCE} * greatest(abs({left}), abs({right})) + {ABSOLUTE_FLOOR})"
        )
    return f"({left} is not distinct from {right})"


def compare_mart(
    con: duckdb.DuckDBPyConnection, mart: CoreMart, other: str, label: str, examples: int = 5
) -> list[str]:
    """Discrepancies between the pipeline's ``mart`` and relation ``other`` (the same shape)."""
    messages: list[str] = []
    where = f"{label} {mart.name}"
    pipeline_rows = f"(select {mart.select_list} from ({mart.pipeline_sql}))"
    other_rows = f"(select {mart.select_list} from {other})"
    keys = ", ".join(mart.keys)

    counts = {}
    for side, rows in (("pipeline", pipeline_rows), (label, other_rows)):
        counts[side], distinct = con.execute(f"select count(*), count(distinct ({keys})) from {rows} as t").fetchall()[
            0
        ]
        if counts[side] != distinct:
            messages.append(f"{where}: {side} has {counts[side] - distinct} duplicate keys ({keys})")
    if counts["pipeline"] != counts[label]:
        messages.append(f"{where}: {counts[label]:,} rows, the pipeline {counts['pipeline']:,}")

    aggregates = ", ".join(mart.measures.values())
    pipeline_sums = con.execute(f"select {aggregates} from {pipeline_rows}").fetchall()[0]
    other_sums = con.execute(f"select {aggregates} from {other_rows}").fetchall()[0]
    for name, a, b in zip(mart.measures, pipeline_sums, other_sums, strict=True):
        if not _close(a, b):
            messages.append(f"{where}: {name} = {b}, the pipeline {a}")

    on = " and ".join(f"p.{k} is not distinct from o.{k}" for k in mart.keys)
    value_columns = [c for c in mart.columns if c not in mart.keys]
    con.execute(
        f"""
        create or replace temp table bench_diff as
        select
            {", ".join(f"coalesce(p.{k}, o.{k}) as {k}" for k in mart.keys)},
            p.{mart.keys[0]} is null and o.{mart.keys[0]} is not null as only_other,
            o.{mart.keys[0]} is null and p.{mart.keys[0]} is not null as only_pipeline,
            {", ".join(f"not {_same(c, mart.columns[c])} as diff_{c}" for c in value_columns)}
        from {pipeline_rows} as p
        full outer join {other_rows} as o
            on {on}
        """
    )
    try:
        # keys are never null in these marts, so a null key side means the row is missing there
        checks = [
            ("only_pipeline", f"rows only in the pipeline, missing from {label}"),
            ("only_other", f"rows only in {label}, not in the pipeline"),
            *((f"diff_{c} and not only_pipeline and not only_other", f"rows whose {c} differs") for c in value_columns),
        ]
        for condition, text in checks:
            n = con.execute(f"select count(*) from bench_diff where {condition}").fetchall()[0][0]
            if n:
                sample = con.execute(
                    f"select {keys} from bench_diff where {condition} order by all limit {examples}"
                ).fetchall()
                shown = "; ".join("|".join("" if v is None else str(v) for v in row) for row in sample)
                detail = ""
                if condition.startswith("diff_"):
                    column = condition.split()[0].removeprefix("diff_")
                    detail = _value_examples(con, mart, pipeline_rows, other_rows, column, sample)
                messages.append(f"{where}: {n:,} {text}; e.g. {shown}{detail}")
    finally:
        con.execute("drop table if exists bench_diff")
    return messages


def _value_examples(con, mart: CoreMart, pipeline_rows: str, other_rows: str, column: str, keys: list) -> str:
    """' (pipeline → other: a → b, …)' for the first differing rows."""
    if not keys:
        return ""
    match = " and ".join(f"{k} is not distinct from ?" for k in mart.keys)
    pairs = []
    for key in keys[:3]:
        a = con.execute(f"select {column} from {pipeline_rows} where {match}", list(key)).fetchall()
        b = con.execute(f"select {column} from {other_rows} where {match}", list(key)).fetchall()
        pairs.append(f"{a[0][0] if a else None!r} → {b[0][0] if b else None!r}")
    return f" (pipeline → other: {', '.join(pairs)})"


def compare(
    con: duckdb.DuckDBPyConnection,
    implementations: Iterable[str] = IMPLEMENTATIONS,
    marts: Iterable[str] | None = None,
    examples: int = 5,
) -> list[str]:
    """Compare every core mart of every implementation (relations ``<implementation>_<mart>``) with the
    pipeline's. Returns the discrepancies as sentences; an empty list means they all agree."""
    messages: list[str] = []
    for name in marts or CORE_MARTS:
        mart = CORE_MARTS[name]
        for implementation in implementations:
            relation = _relation(con, implementation, name)
            if relation is None:
                messages.append(f"{implementation} {name}: relation {implementation}_{name} does not exist")
                continue
            messages += compare_mart(con, mart, relation, implementation, examples)
    return messages
