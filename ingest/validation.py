"""Great Expectations: the suites, and the checkpoints that gate every publish.

The GX project is file-backed and under version control in ``expectations/gx`` (suites, validation
definitions, checkpoints, the datasource). Its datasource points at ``${REFORM_GX_DATABASE}``, set at
run time to the build file being validated, so the committed project holds no machine path.

The suites are written here, in Python, as data (:data:`SUITES`); :func:`sync_project` writes them
into the project (``reform gx-sync``; a test fails when the committed project is out of date).
Nothing happens at import time.

Each expectation carries ``meta.severity``: ``critical`` failures stop the publish step (the
previously published warehouse stays in place), ``warning`` failures are recorded and reported.
Validation runs in the database (DuckDB through SQLAlchemy), never by pulling tables into pandas.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.config import DBT_PROJECT_DIR, GX_PROJECT_DIR, Paths

if TYPE_CHECKING:
    import pyarrow as pa

DATASOURCE = "warehouse"
DATABASE_VARIABLE = "REFORM_GX_DATABASE"
PERIOD_REGEX = r"^[0-9][0-9][0-9][0-9](-(S[12]|Q[1-4]|M(0[1-9]|1[0-2])))?$"
OBS_STATUSES = ["normal", "provisional", "estimated", "masked", "not_applicable", "missing"]


# Outliers: the robust z-score of Iglewicz and Hoaglin (1993), z = 0.6745 (x - median) / MAD, of each current
# value against the same unit's own history of that indicator at the same periodicity; |z| > 3.5 is flagged.
# Needs at least 4 values. The MAD is floored at 5 % of the median and at 1 (one person, one event) so that a
# very steady series or a series of small counts does not flag ordinary noise: with the floor a value must
# also lie more than about 26 % (and more than 5 units) from the median to be flagged.
OUTLIER_THRESHOLD = 3.5
OUTLIER_RULE = f"a value lies within its unit's own history (robust z-score |z| ≤ {OUTLIER_THRESHOLD})"
OUTLIER_QUERY = (
    "with cur as (select *, length(period_id) as period_kind from {batch} where is_current and value is not null), "
    "stats as (select reporting_unit_code, region_code, indicator_code, period_kind, "
    "median(value) as med, count(*) as n from cur group by all), "
    "spread as (select c.reporting_unit_code, c.region_code, c.indicator_code, c.period_kind, "
    "greatest(median(abs(c.value - s.med)), 0.05 * abs(any_value(s.med)), 1) as mad from cur as c "
    "join stats as s using (reporting_unit_code, region_code, indicator_code, period_kind) group by all) "
    "select c.reporting_unit_code, c.region_code, c.indicator_code, c.period_id, c.value, s.med as median, "
    "d.mad, round(0.6745 * (c.value - s.med) / d.mad, 1) as robust_z "
    "from cur as c join stats as s using (reporting_unit_code, region_code, indicator_code, period_kind) "
    "join spread as d using (reporting_unit_code, region_code, indicator_code, period_kind) "
    f"where s.n >= 4 and d.mad > 0 and abs(0.6745 * (c.value - s.med) / d.mad) > {OUTLIER_THRESHOLD}"
)


# Duplicate submissions: content sent again as a "resubmission" that changes nothing (a different file of the
# same figures). The first file counts; the copy is reported back to the unit.
RESUBMISSION_RULE = "a resubmission changes the value it replaces (no duplicate submissions)"
# Each version after the first beside the one it replaces (versions are numbered 1, 2, ... per history): a join
# on version - 1 reads only the ~2 % of rows that are resubmissions on the probe side, ten times faster at
# province scale than a lag() window over every row.
RESUBMISSION_QUERY = (
    "select cur.reporting_unit_code, cur.region_code, cur.period_id, cur.indicator_code, cur.version, cur.value, "
    "cur.obs_status, prev.value as previous_value, prev.obs_status as previous_status "
    "from {batch} as cur join {batch} as prev using (reporting_unit_code, region_code, period_id, indicator_code) "
    "where cur.version > 1 and prev.version = cur.version - 1 "
    "and cur.value is not distinct from prev.value and cur.obs_status = prev.obs_status"
)


# Values of a period the catalog does not ask for (a monthly figure of an annual indicator): loaded and
# kept, but int_indicator_values_annualized counts only the periods of the indicator's catalog periodicity
# (a ratio: its numerator's), so they never reach the year's value or the targets' progress. Reported
# back so that the unit sends the period asked for.
PERIODICITY_RULE = "a value's period is one its indicator is reported for (others do not count towards the year)"
PERIODICITY_QUERY = (
    "select b.reporting_unit_code, b.region_code, b.period_id, b.indicator_code, b.value, "
    "p.period_type, coalesce(n.periodicity, i.periodicity) as catalog_periodicity "
    "from {batch} as b join marts.dim_indicator as i using (indicator_code) "
    "left join marts.dim_indicator as n on i.aggregation = 'ratio' and n.indicator_code = i.numerator_code "
    "join marts.dim_period as p on p.period_id = b.period_id "
    "where b.is_current and p.period_type != coalesce(n.periodicity, i.periodicity)"
)


def _microdata_suites() -> list[Suite]:
    """Rules on the statistical microdata as loaded (the loader quarantines bad rows; these prove it)."""
    from ingest.microdata import uscc_check_char_sql

    check = uscc_check_char_sql("credit_code")
    return [
        Suite(
            "raw_enterprises",
            "raw",
            "enterprises",
            [
                _sql(
                    "critical",
                    "unified social credit codes carry a valid GB 32100 check character",
                    f"select * from {{batch}} where length(credit_code) <> 18 or right(credit_code, 1) <> {check}",
                ),
                _sql(
                    "critical",
                    "enterprise regions are GB/T 2260 codes of the reference data",
                    "select * from {batch} where region_code not in (select region_code from raw.regions)",
                ),
                _sql("critical", "enterprise headcounts are not negative", "select * from {batch} where headcount < 0"),
            ],
        ),
        Suite(
            "raw_workers",
            "raw",
            "workers",
            [
                _sql(
                    "critical",
                    "worker records hold a pseudonym, never an ID number",
                    "select * from {batch} where length(worker_pseudonym) <> 32 "
                    "or not regexp_full_match(worker_pseudonym, '[0-9a-f]+')",
                ),
                _sql(
                    "critical",
                    "skill grades are on the eight-level ladder",
                    "select * from {batch} where skill_grade_code is not null "
                    "and skill_grade_code not in (select grade_code from raw.skill_grades)",
                ),
            ],
        ),
        Suite(
            "raw_survey_responses",
            "raw",
            "survey_responses",
            [
                _sql(
                    "critical",
                    "survey design weights are positive",
                    "select * from {batch} where design_weight is null or design_weight <= 0",
                ),
                _sql(
                    "critical",
                    "satisfaction is on the 1–5 scale",
                    "select * from {batch} where satisfaction not between 1 and 5",
                ),
            ],
        ),
    ]


@dataclass(frozen=True)
class Check:
    """One expectation: its GX class name, its arguments, severity and a sentence for people."""

    expectation: str
    kwargs: dict[str, Any]
    severity: str
    description: str

    def build(self):
        import great_expectations as gx

        cls = getattr(gx.expectations, self.expectation)
        return cls(
            **self.kwargs,
            severity=self.severity,
            meta={"severity": self.severity},
            description=self.description,
        )

    def failing_rows_sql(self, table: str) -> str:
        """The same rule as plain SQL returning every failing row (GX only keeps a sample)."""
        kw = self.kwargs
        if self.expectation == "UnexpectedRowsExpectation":
            return kw["unexpected_rows_query"].replace("{batch}", table)
        if self.expectation == "ExpectColumnValuesToNotBeNull":
            return f'select * from {table} where "{kw["column"]}" is null'
        if self.expectation == "ExpectColumnValuesToBeInSet":
            values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in kw["value_set"])
            return f'select * from {table} where "{kw["column"]}" not in ({values})'
        if self.expectation == "ExpectCompoundColumnsToBeUnique":
            columns = ", ".join(f'"{c}"' for c in kw["column_list"])
            return (
                f"select t.* from {table} as t join (select {columns} from {table} "
                f"group by all having count(*) > 1) as d using ({columns})"
            )
        if self.expectation == "ExpectColumnValuesToBeUnique":
            column = f'"{kw["column"]}"'
            return (
                f"select t.* from {table} as t join (select {column} from {table} "
                f"group by all having count(*) > 1) as d using ({column})"
            )
        if self.expectation == "ExpectTableRowCountToBeBetween":
            return f"select count(*) as row_count from {table} having count(*) < {kw.get('min_value') or 0}"
        raise NotImplementedError(f"no SQL form for {self.expectation}; add one to Check.failing_rows_sql")


@dataclass(frozen=True)
class Suite:
    name: str
    schema: str
    table: str
    checks: list[Check] = field(default_factory=list)
    generated: bool = False  # derived from the dbt models' declared keys (see mart_key_suites)
    # columns no rule of the suite looks across: each rule's failing rows are the union of its failing
    # rows within each group of these columns, so an incremental build validates only the groups that
    # tonight's rows fall in (see validate_touched)
    local_to: tuple[str, ...] = ()

    @property
    def asset(self) -> str:
        return f"{self.schema}.{self.table}"


def _sql(severity: str, description: str, query: str) -> Check:
    return Check("UnexpectedRowsExpectation", {"unexpected_rows_query": query}, severity, description)


SUITES: list[Suite] = [
    Suite(
        "raw_submissions",
        "raw",
        "submissions",
        [
            Check(
                "ExpectColumnValuesToNotBeNull",
                {"column": "file_sha256"},
                "critical",
                "every row knows the file it came from",
            ),
            Check(
                "ExpectColumnValuesToNotBeNull",
                {"column": "indicator_code"},
                "critical",
                "every row names an indicator",
            ),
            Check(
                "ExpectColumnValuesToNotBeNull",
                {"column": "reporting_unit_code"},
                "critical",
                "every row names its reporting unit",
            ),
            Check(
                "ExpectColumnValuesToBeInSet",
                {"column": "obs_status", "value_set": OBS_STATUSES},
                "critical",
                "observation status is one of the SDMX-style statuses",
            ),
            # GX's regex expectation has no DuckDB dialect support: the same rule in SQL
            _sql(
                "critical",
                "periods are SDMX reporting-period ids (2025, 2025-S1, 2025-Q3, 2025-M09)",
                f"select * from {{batch}} where not regexp_full_match(period_id, '{PERIOD_REGEX}')",
            ),
            _sql(
                "critical",
                "a value is present exactly when the status says it was observed",
                "select * from {batch} where (value is null) = (obs_status in ('normal', 'provisional', 'estimated'))",
            ),
        ],
        local_to=("reporting_unit_code", "region_code"),
    ),
    Suite(
        "fct_indicator_observation",
        "marts",
        "fct_indicator_observation",
        [
            # in SQL, not GX's ExpectCompoundColumnsToBeUnique: on the province's 9.7 million rows GX's
            # query took 25 of this suite's 36 s, one group by takes under 2 s
            _sql(
                "critical",
                "one row per unit, region, period, indicator and version",
                "select reporting_unit_code, region_code, period_id, indicator_code, version, count(*) as row_count "
                "from {batch} group by all having count(*) > 1",
            ),
            _sql(
                "critical",
                "exactly one current version per unit, region, period and indicator",
                "select reporting_unit_code, region_code, period_id, indicator_code, count(*) as current_rows "
                "from {batch} where is_current group by all having count(*) != 1",
            ),
            _sql(
                "critical",
                "every region code exists in dim_region",
                "select * from {batch} where region_code not in (select region_code from marts.dim_region)",
            ),
            _sql(
                "critical",
                "every period lies in the reporting calendar (dim_period)",
                "select * from {batch} where period_id not in (select period_id from marts.dim_period)",
            ),
            _sql(
                "critical",
                "the unit of measure is the catalog's",
                "select b.* from {batch} as b join marts.dim_indicator as i using (indicator_code) "
                "where b.unit != i.unit",
            ),
            _sql(
                "warning",
                "rates lie within 0–100 %",
                "select b.* from {batch} as b join marts.dim_indicator as i using (indicator_code) "
                "where i.unit = '%' and b.value not between 0 and 100",
            ),
            _sql(
                "warning",
                "a part never exceeds its whole (e.g. high-skill talents ≤ skill talents)",
                "select p.reporting_unit_code, p.region_code, p.period_id, p.indicator_code, p.value, "
                "w.indicator_code as whole_indicator_code, w.value as whole_value "
                "from {batch} as p "
                "join marts.dim_indicator as i on i.indicator_code = p.indicator_code "
                "join marts.fct_indicator_observation as w on w.indicator_code = i.parent_indicator_code "
                "and w.reporting_unit_code = p.reporting_unit_code and w.region_code = p.region_code "
                "and w.period_id = p.period_id and w.is_current "
                "where p.is_current and p.value > w.value",
            ),
            _sql("warning", OUTLIER_RULE, OUTLIER_QUERY),
            _sql("warning", RESUBMISSION_RULE, RESUBMISSION_QUERY),
            _sql("warning", PERIODICITY_RULE, PERIODICITY_QUERY),
            _sql(
                "warning",
                "counts and amounts are not negative",
                "select b.* from {batch} as b join marts.dim_indicator as i using (indicator_code) "
                "where i.unit != '%' and b.value < 0",
            ),
        ],
        # every rule compares a row only with rows of its unit and region: its history (keys, versions,
        # resubmissions), its period's other indicators (part and whole), its own past (outliers)
        local_to=("reporting_unit_code", "region_code"),
    ),
]


SUITES += _microdata_suites()
SUITES.append(
    Suite(
        "fct_target",
        "marts",
        "fct_target",
        [
            _sql(
                "critical",
                "a masked target has no value (the documents' hidden numbers are never guessed)",
                "select * from {batch} where status = 'masked' and target_value is not null",
            ),
            _sql(
                "critical",
                "every target comes with its source document and section",
                "select * from {batch} where source_document is null or source_section is null",
            ),
        ],
    )
)


def mart_key_suites(models_dir: Path = DBT_PROJECT_DIR / "models" / "marts") -> list[Suite]:
    """One suite per mart: its declared primary key (the dbt contract) is present and unique; dimensions
    are not empty. Derived from the models' YAML, so a new mart is validated without writing a suite."""
    import yaml

    from ingest.dbt_cosmos import primary_key

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: 0.3 s less per validate task
    suites = []
    for properties in sorted(models_dir.rglob("_*__models.yml")):
        for model in (yaml.load(properties.read_text(encoding="utf-8"), Loader=loader) or {}).get("models", []):
            key = primary_key(model)
            if not key:
                continue
            name = model["name"]
            checks = [
                Check("ExpectColumnValuesToNotBeNull", {"column": c}, "critical", f"{name}: {c} is always present")
                for c in key
            ]
            if len(key) == 1:
                checks.append(
                    Check("ExpectColumnValuesToBeUnique", {"column": key[0]}, "critical", f"{name}: {key[0]} is unique")
                )
            else:
                checks.append(
                    Check(
                        "ExpectCompoundColumnsToBeUnique",
                        {"column_list": key},
                        "critical",
                        f"{name}: ({', '.join(key)}) is unique",
                    )
                )
            if name.startswith("dim_"):
                checks.append(
                    Check("ExpectTableRowCountToBeBetween", {"min_value": 1}, "critical", f"{name} is not empty")
                )
            meta = (model.get("config") or {}).get("meta") or {}
            local = tuple(meta.get("validation_local_to") or ())
            suites.append(Suite(f"{name}_keys", "marts", name, checks, generated=True, local_to=local))
    return suites


SUITES += mart_key_suites()


def get_context(project_dir: Path = GX_PROJECT_DIR):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from sqlalchemy.exc import SAWarning

    # GX reflects every column of a validated table; duckdb-engine knows no SQLAlchemy type for DuckDB's
    # nested types (dim_region.path_codes is a list) and warns once per column. No expectation reads them.
    warnings.filterwarnings("ignore", r"Did not recognize type '(list|array|struct|map|union)'", SAWarning)

    context = gx.get_context(mode="file", project_root_dir=str(project_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def sync_project(database: Path, project_dir: Path = GX_PROJECT_DIR, suites: list[Suite] = SUITES):
    """Write the datasource, assets, suites, validation definitions and checkpoints into the project.

    ``database`` is a built warehouse (GX checks that the tables exist). Idempotent: unchanged suites
    leave the files untouched. Run it (``reform gx-sync``) when :data:`SUITES` changes; commit the result.
    """

    from ingest.gx_duckdb import add_duckdb_datasource, release_duckdb_connections

    with _database(database):
        context = get_context(project_dir)
        datasource = add_duckdb_datasource(context, DATASOURCE, f"${{{DATABASE_VARIABLE}}}", read_only=True)
        try:
            _sync_suites(context, datasource, suites)
        finally:
            release_duckdb_connections(datasource)
    return context


def _sync_suites(context, datasource, suites: list[Suite]) -> None:
    import great_expectations as gx

    for spec in suites:
        if spec.asset in {a.name for a in datasource.assets}:
            asset = datasource.get_asset(spec.asset)
        else:
            asset = datasource.add_table_asset(name=spec.asset, table_name=spec.table, schema_name=spec.schema)
        if "whole_table" in {b.name for b in asset.batch_definitions}:
            batch = asset.get_batch_definition("whole_table")
        else:
            batch = asset.add_batch_definition_whole_table("whole_table")
        suite = _upsert_suite(context, spec.name, [check.build() for check in spec.checks])
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
        )
        context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=spec.name,
                validation_definitions=[definition],
                actions=[],
                result_format={"result_format": "COMPLETE", "partial_unexpected_count": 10},
            )
        )
    return context


def _signature(expectation) -> str:
    config = expectation.configuration.to_json_dict()
    config.pop("id", None)
    config.pop("rendered_content", None)
    return json.dumps(config, sort_keys=True, default=str)


def _upsert_suite(context, name: str, expectations: list):
    """``suites.add_or_update`` that keeps the ids of unchanged expectations (no churn in git)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name, expectations=expectations)
    try:
        previous = {_signature(e): e.id for e in context.suites.get(name).expectations}
    except Exception:
        previous = {}
    for expectation in suite.expectations:
        expectation.id = previous.get(_signature(expectation))
    return context.suites.add_or_update(suite)


@contextlib.contextmanager
def _database(path: Path, results_dir: Path | None = None, docs_dir: Path | None = None) -> Iterator[None]:
    """Point the committed project at one database and at run-time folders for results and Data Docs."""
    scratch = path.parent / "gx"
    values = {
        DATABASE_VARIABLE: str(path),
        "REFORM_GX_RESULTS": str(results_dir or scratch / "results"),
        "REFORM_GX_DOCS": str(docs_dir or scratch / "docs"),
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# DuckDB's memory budget while GX validates (GX and Python hold about 0.8 GB beside it): the build's
# 4 GiB peak at province scale; beyond it DuckDB spills beside the build file
VALIDATION_MEMORY_LIMIT_ENV = "REFORM_GX_MEMORY_LIMIT"
VALIDATION_MEMORY_LIMIT = "2GB"


def validate_warehouse(
    database: Path,
    run_id: str,
    project_dir: Path = GX_PROJECT_DIR,
    suites: list[Suite] = SUITES,
    results_dir: Path | None = None,
    docs_dir: Path | None = None,
) -> list[dict[str, object]]:
    """Run every checkpoint against ``database``; one result record per expectation.

    The records have the columns of ``audit.validation_results`` (see :data:`ingest.lake.VALIDATION_SCHEMA`).
    GX's own result files go to ``results_dir`` and, when ``docs_dir`` is given, Data Docs (static HTML,
    readable offline though unstyled: GX links its CSS from a CDN) are updated there: the pages of
    this run's results and suites, and the index. Pages of earlier runs stay as they were rendered;
    rebuilding them all grew with every night's results.
    """
    from ingest.gx_duckdb import duckdb_settings, enable_duckdb_persisted_connection, release_duckdb_connections

    enable_duckdb_persisted_connection()
    validated_at = datetime.now(UTC).replace(tzinfo=None)
    records: list[dict[str, object]] = []
    spill = Path(database).parent / "gx" / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    limits = {
        "memory_limit": os.environ.get(VALIDATION_MEMORY_LIMIT_ENV, VALIDATION_MEMORY_LIMIT),
        "temp_directory": str(spill),
    }
    with _database(database, results_dir, docs_dir), duckdb_settings(limits):
        context = get_context(project_dir)
        datasource = context.data_sources.get(DATASOURCE)
        rendered: list = []  # this run's resources for Data Docs: its validation results and suites
        try:
            for spec in suites:
                result = context.checkpoints.get(spec.name).run(run_id=_gx_run_id(run_id))
                rendered += list(result.run_results)
                for validation in result.run_results.values():
                    for outcome in validation.results:
                        records.append(_record(run_id, validated_at, spec, outcome))
            if docs_dir is not None and suites:
                from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

                rendered += [ExpectationSuiteIdentifier(name=spec.name) for spec in suites]
                context.build_data_docs(resource_identifiers=rendered)
        finally:
            release_duckdb_connections(datasource)
    return records


def _gx_run_id(run_id: str):
    """GX's run identifier, with the time given: without one GX parses the run name as a date, and a
    run id whose random suffix reads as a UTC offset (``20261203T204245-5800ad``: −58:00, AD) made it fail."""
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))


def _exception_message(info: dict | None) -> str | None:
    """GX reports a failed metric either flat or keyed by metric id; the first message, shortened."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            return "error: " + str(entry.get("exception_message", "")).split("\n")[0][:300]
    return None


def _record(run_id: str, validated_at: datetime, spec: Suite, outcome) -> dict[str, object]:
    config = outcome.expectation_config
    details = outcome.result or {}
    sample = details.get("partial_unexpected_list") or details.get("details", {}).get("unexpected_rows") or []
    if hasattr(sample, "to_dict"):
        sample = sample.to_dict(orient="records")
    unexpected = details.get("unexpected_count")
    if unexpected is None and "observed_value" in details and config.type == "unexpected_rows_expectation":
        unexpected = details["observed_value"]
    error = _exception_message(outcome.exception_info)
    if error:
        sample = [error]
    return {
        "run_id": run_id,
        "validated_at": validated_at,
        "suite": spec.name,
        "batch": spec.asset,
        "expectation": config.type,
        "column_name": config.kwargs.get("column") or ",".join(config.kwargs.get("column_list", []) or []) or None,
        "severity": str(getattr(config.severity, "value", config.severity) or "critical"),
        "success": bool(outcome.success),
        "unexpected_count": int(unexpected)
        if isinstance(unexpected, (int, float))
        else (0 if outcome.success else None),
        "element_count": details.get("element_count"),
        "unexpected_sample": json.dumps(list(sample)[:10], ensure_ascii=False, default=str),
        "description": config.description,
    }


MAX_FAILING_ROWS_PER_RULE = 10_000


def collect_failures(
    database: Path, run_id: str, results: list[dict[str, object]], suites: list[Suite] = SUITES
) -> list[dict[str, object]]:
    """Every row behind each failed expectation, with the unit it belongs to (for send-back reports).

    At most :data:`MAX_FAILING_ROWS_PER_RULE` rows per rule (its result counts them all): the first in
    the order of their columns, so that two validations of the same build keep the same rows."""
    import duckdb

    failed = {(r["suite"], r["description"]) for r in results if not r["success"]}
    records: list[dict[str, object]] = []
    with contextlib.closing(duckdb.connect(str(database), read_only=True)) as con:
        for spec in suites:
            for check in spec.checks:
                if (spec.name, check.description) not in failed:
                    continue
                # ordered before the cap: a rule failing on more rows keeps the same ones each time
                query = f"select * from ({check.failing_rows_sql(spec.asset)}) order by all"
                cursor = con.execute(f"{query} limit {MAX_FAILING_ROWS_PER_RULE}")
                columns = [d[0] for d in cursor.description]
                for values in cursor.fetchall():
                    row = dict(zip(columns, values, strict=True))
                    records.append(
                        {
                            "run_id": run_id,
                            "suite": spec.name,
                            "rule": check.description,
                            "severity": check.severity,
                            "reporting_unit_code": row.get("reporting_unit_code"),
                            "period_id": row.get("period_id"),
                            "indicator_code": row.get("indicator_code"),
                            "value": row.get("value") if isinstance(row.get("value"), (int, float)) else None,
                            "row_values": json.dumps(row, ensure_ascii=False, default=str),
                        }
                    )
    return records


def raw_suites(suites: list[Suite] = SUITES) -> list[Suite]:
    return [suite for suite in suites if suite.schema == "raw"]


def validate_landed(paths: Paths, shas: set[str], run_id: str) -> list[dict[str, object]]:
    """The raw suites on just-landed files, right after an ingest run (not the publish gate: that is the build).

    ``shas``: the names of the lake files holding them (a received file's sha256, or its segment's name).

    Builds a scratch DuckDB with the files' raw rows and the reference seeds the rules read, runs the raw
    checkpoints, and persists results and failing rows to ``lake/audit/validation_load``.
    """
    import shutil

    import duckdb

    from ingest import lake
    from ingest.config import SEEDS_DIR

    scratch = paths.builds / f"landed-{run_id}" / "reform.duckdb"
    if scratch.parent.exists():
        shutil.rmtree(scratch.parent)
    scratch.parent.mkdir(parents=True)
    try:
        with contextlib.closing(duckdb.connect(str(scratch))) as con:
            lake.load_into(con, paths.lake, only=shas)
            for seed in ("regions", "skill_grades"):
                con.execute(
                    f"create table raw.{seed} as select * from read_csv(?, all_varchar = true)",
                    [str(SEEDS_DIR / f"{seed}.csv")],
                )
        suites = raw_suites()
        results = validate_warehouse(scratch, run_id, suites=suites, results_dir=scratch.parent / "gx")
        failures = collect_failures(scratch, run_id, results, suites)
        lake.write_validation_results(paths.lake, run_id, results, failures, stage="load")
        return results
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)


def _scratch_of_groups(source: Path, target: Path, suites: list[Suite], groups) -> None:
    """A DuckDB file holding, of ``source``, the suites' tables restricted to ``groups`` (an Arrow table of
    the suites' ``local_to`` columns) and every dimension (what their rules read beside the table)."""
    import duckdb

    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    with contextlib.closing(duckdb.connect(str(target))) as con:
        con.execute(f"attach '{source}' as source (read_only)")
        con.register("touched_groups", groups)
        dims = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'source' "
            "and schema_name = 'marts' and starts_with(table_name, 'dim_')"
        ).fetchall()
        copied = set()
        for schema, table in dims:
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create table {schema}.{table} as select * from source.{schema}.{table}")
            copied.add((schema, table))
        for spec in suites:
            if (spec.schema, spec.table) in copied:
                continue
            con.execute(f"create schema if not exists {spec.schema}")
            con.execute(
                f"create table {spec.asset} as select * from source.{spec.asset} "
                f"semi join touched_groups using ({', '.join(spec.local_to)})"
            )
            copied.add((spec.schema, spec.table))


def _result_key(record: dict[str, object]) -> tuple[object, ...]:
    return (record["suite"], record["expectation"], record["column_name"], record["description"])


def _merged(base: dict[str, object], base_part: dict[str, object], tonight: dict[str, object]) -> dict[str, object]:
    """A whole-table result from the base's and the parts': base − base's groups + tonight's groups."""
    merged = dict(tonight)
    counts = [r.get("unexpected_count") for r in (base, base_part, tonight)]
    if not all(isinstance(c, int) for c in counts):
        raise ValueError(f"validate_touched: no count to merge for {_result_key(tonight)} (an error?)")
    merged["unexpected_count"] = counts[0] - counts[1] + counts[2]  # type: ignore[operator]
    merged["success"] = merged["unexpected_count"] == 0
    elements = [r.get("element_count") for r in (base, base_part, tonight)]
    merged["element_count"] = (
        elements[0] - elements[1] + elements[2] if all(isinstance(e, int) for e in elements) else None  # type: ignore[operator]
    )
    if not tonight.get("unexpected_count") and merged.get("unexpected_count"):
        merged["unexpected_sample"] = base.get("unexpected_sample")
    return merged


def _group_keys(groups: pa.Table, columns: tuple[str, ...]) -> set[tuple[object, ...]]:
    """The rows of ``groups`` as tuples of ``columns`` (what :func:`_in_groups` looks a row up in)."""
    return set(zip(*(groups.column(c).to_pylist() for c in columns), strict=True)) if groups.num_rows else set()


def _in_groups(row_values: str, columns: tuple[str, ...], groups: set[tuple[object, ...]]) -> bool:
    row = json.loads(row_values)
    return tuple(row.get(c) for c in columns) in groups


def touched_scratch(build: Path, suites: list[Suite]) -> tuple[pa.Table, Path]:
    """The groups an incremental build's new submissions touched (an Arrow table of the suites' ``local_to``
    columns) and a folder with a scratch file holding those groups' rows of the build, ``tonight.duckdb``.
    :func:`validate_touched` validates and removes it. (The base release's rows in those groups are
    counted in place, see :func:`counted_in_base`.)"""
    import duckdb

    from ingest.incremental import touched_sql

    columns = suites[0].local_to
    if any(spec.local_to != columns for spec in suites):
        raise ValueError("validate_touched: the suites must be local to the same columns")
    with contextlib.closing(duckdb.connect(str(build), read_only=True)) as con:
        groups = con.sql(touched_sql(columns)).to_arrow_table()
    scratch = build.parent / "gx-touched"
    _scratch_of_groups(build, scratch / "tonight.duckdb", suites, groups)
    return groups, scratch


# the expectations whose GX count is the number of rows their SQL form (Check.failing_rows_sql) returns
COUNTED_AS_ROWS = frozenset(
    {
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToBeInSet",
        "ExpectColumnValuesToBeUnique",
        "UnexpectedRowsExpectation",
    }
)


def counted_in_base(
    base: Path,
    suites: list[Suite],
    groups: pa.Table,
    base_results: list[dict[str, object]],
    base_failures: list[dict[str, object]],
) -> dict[tuple[object, ...], dict[str, object]] | None:
    """What each rule of ``suites`` finds in the base release within ``groups``, as GX would report it
    on those rows (``unexpected_count``, ``element_count``), keyed like :func:`_result_key`; without GX.

    A rule's failing rows in the base are known: the base's failing rows (``base_failures``, kept with
    their groups' columns) inside the groups, when they are all of them (as many as its result
    counted); else (more than :data:`MAX_FAILING_ROWS_PER_RULE`) its SQL form counts them in the base
    file. ``None`` when a rule is not one whose GX count is a row count (:data:`COUNTED_AS_ROWS`) or
    the base has no count for it: then only GX on the base's rows of the groups can tell.
    """
    import duckdb

    columns = suites[0].local_to
    if any(check.expectation not in COUNTED_AS_ROWS for spec in suites for check in spec.checks):
        return None
    whole = {(r["suite"], r["description"]): r for r in base_results}
    rules = [(spec, check, whole.get((spec.name, check.description))) for spec in suites for check in spec.checks]
    if any(result is None or not isinstance(result.get("unexpected_count"), int) for _, _, result in rules):
        return None
    touched = _group_keys(groups, columns)
    kept: dict[tuple[object, object], int] = {}
    inside: dict[tuple[object, object], int] = {}
    for failure in base_failures:
        rule = (failure["suite"], failure["rule"])
        kept[rule] = kept.get(rule, 0) + 1
        if _in_groups(str(failure["row_values"]), columns, touched):
            inside[rule] = inside.get(rule, 0) + 1
    found: dict[tuple[object, ...], dict[str, object]] = {}
    rows: dict[str, int] = {}
    with contextlib.closing(duckdb.connect(str(base), read_only=True)) as con:
        con.register("touched_groups", groups)
        for spec, check, result in rules:
            restricted = f"(select * from {spec.asset} semi join touched_groups using ({', '.join(columns)}))"
            if spec.asset not in rows:
                rows[spec.asset] = con.execute(f"select count(*) from {restricted}").fetchall()[0][0]
            rule = (spec.name, check.description)
            if kept.get(rule, 0) == result["unexpected_count"]:
                unexpected = inside.get(rule, 0)
            else:  # the base kept only some of its failing rows
                query = f"select count(*) from ({check.failing_rows_sql(restricted)})"
                unexpected = con.execute(query).fetchall()[0][0]
            element = rows[spec.asset] if isinstance(result.get("element_count"), int) else None
            found[_result_key(result)] = {"unexpected_count": unexpected, "element_count": element}
    return found


def validate_touched(
    build: Path,
    base: Path,
    run_id: str,
    suites: list[Suite],
    base_results: list[dict[str, object]],
    base_failures: list[dict[str, object]],
    results_dir: Path | None = None,
    scratch: tuple[pa.Table, Path] | None = None,
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Validate an incremental build's local suites (``Suite.local_to``) on the groups tonight touched.

    The rows outside those groups are the base release's, unchanged, and so are the dimensions the
    rules read; so each rule's whole-table result is the base's (``base_results``), minus what it
    found in those groups in the base, plus what it finds in them tonight. Tonight's by the GX
    checkpoints on a scratch file of just those groups (``scratch``: made by :func:`touched_scratch`,
    here unless given); the base's counted from its failing rows (:func:`counted_in_base`), or, for a
    rule that cannot be, by the same checkpoints on a scratch file of the base's rows of those groups.
    The failing rows likewise: the base's outside the groups, tonight's inside.
    Returns (results, failing rows), as a whole-table run would.
    """
    import shutil

    groups, folder = scratch if scratch is not None else touched_scratch(build, suites)
    columns = suites[0].local_to
    try:
        base_part = counted_in_base(base, suites, groups, base_results, base_failures)
        if base_part is None:
            _scratch_of_groups(base, folder / "base.duckdb", suites, groups)
            in_base = validate_warehouse(folder / "base.duckdb", run_id, suites=suites, results_dir=folder / "gx-base")
            base_part = {_result_key(r): r for r in in_base}
        tonight = validate_warehouse(folder / "tonight.duckdb", run_id, suites=suites, results_dir=results_dir)
        tonight_failures = collect_failures(folder / "tonight.duckdb", run_id, tonight, suites)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    before = {_result_key(r): r for r in base_results}
    results = []
    for record in tonight:
        key = _result_key(record)
        if key not in before or key not in base_part:
            raise ValueError(f"validate_touched: the base has no result for {key}; validate the whole table")
        results.append(_merged(before[key], base_part[key], record))
    touched = _group_keys(groups, columns)
    names = {spec.name for spec in suites}
    kept = [
        dict(f, run_id=run_id)
        for f in base_failures
        if f["suite"] in names and not _in_groups(str(f["row_values"]), columns, touched)
    ]
    return results, first_failing_rows(build, suites, kept + tonight_failures)


def first_failing_rows(
    database: Path, suites: list[Suite], failures: list[dict[str, object]]
) -> list[dict[str, object]]:
    """``failures`` with at most :data:`MAX_FAILING_ROWS_PER_RULE` rows per rule: the first in the order
    of their columns, as :func:`collect_failures` keeps them (a rule's rows are ordered again only when
    it has more; ``database`` gives the columns' types, to order the rows' values as DuckDB does).

    An incremental validation keeps, of a rule failing on more rows than are kept, the base's kept rows
    outside tonight's groups and tonight's kept rows inside them: twice the cap at worst, and more each
    night without this. Cut here, they are a full validation's rows whenever the base's kept rows reach
    as far in that order as the first rows kept here (the base kept every failing row before its last
    one); else the first of the rows known, close to those.
    """
    import duckdb
    import pyarrow as pa

    by_rule: dict[tuple[object, object], list[dict[str, object]]] = {}
    for failure in failures:
        by_rule.setdefault((failure["suite"], failure["rule"]), []).append(failure)
    over = {rule for rule, rows in by_rule.items() if len(rows) > MAX_FAILING_ROWS_PER_RULE}
    if not over:
        return failures
    first: dict[tuple[object, object], list[dict[str, object]]] = {}
    with contextlib.closing(duckdb.connect(str(database), read_only=True)) as con:
        for spec in suites:
            for check in spec.checks:
                rule = (spec.name, check.description)
                if rule not in over:
                    continue
                described = con.execute(f"describe {check.failing_rows_sql(spec.asset)}").fetchall()
                structure = json.dumps({name: kind for name, kind, *_ in described})
                rows = pa.table(  # noqa: F841 - read by DuckDB
                    {"_row": range(len(by_rule[rule])), "_values": [str(f["row_values"]) for f in by_rule[rule]]}
                )
                order = ", ".join('"' + name.replace('"', '""') + '"' for name, *_ in described)
                picked = con.execute(
                    f"select _row from (select _row, unnest(json_transform(_values, ?)) from rows) "
                    f"order by {order} limit {MAX_FAILING_ROWS_PER_RULE}",
                    [structure],
                ).fetchall()
                first[rule] = [by_rule[rule][i] for (i,) in picked]
    missing = over - set(first)
    if missing:
        raise ValueError(f"first_failing_rows: no rule {sorted(map(str, missing))} in the suites given")
    return [f for rule, rows in by_rule.items() for f in first.get(rule, rows)]
