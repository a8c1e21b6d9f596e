"""GX on DuckDB: the known failure without the patch, and checkpoints that work with it.

Everything (GX project and database) lives under ``tmp_path``; the whole file runs in a few seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pytest
import sqlalchemy as sa
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import sqlalchemy_execution_engine as gx_sql_engine

from ingest import gx_duckdb
from ingest.gx_duckdb import (
    add_duckdb_datasource,
    enable_duckdb_persisted_connection,
    is_duckdb_persisted_connection_enabled,
)

ROWS = 1_000
NULL_NAMES = ROWS // 100  # name is NULL when id % 100 == 0
BAD_COUNTRIES = ROWS // 250  # country is 'XX' when id % 250 == 0
TABLE_SQL = f"""
CREATE TABLE people AS
SELECT range AS id,
       CASE WHEN range % 100 = 0 THEN NULL ELSE 'n' || range END AS name,
       (range % 60) + 18 AS age,
       CASE WHEN range % 250 = 0 THEN 'XX' ELSE 'DE' END AS country
FROM range({ROWS})
"""


@pytest.fixture(autouse=True)
def _gx_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture
def unpatched_gx(monkeypatch: pytest.MonkeyPatch) -> None:
    """GX as shipped: our DuckDB entry removed from the persisted-dialect tuple, restored afterwards."""
    current = gx_sql_engine._PERSISTED_CONNECTION_DIALECTS
    if any(d == "duckdb" and not isinstance(d, gx_duckdb._DuckDBDialectName) for d in current):
        pytest.skip("GX now keeps a persisted connection for DuckDB natively: drop ingest/gx_duckdb.py")
    shipped = tuple(d for d in current if not isinstance(d, gx_duckdb._DuckDBDialectName))
    # monkeypatch restores whatever the tuple was before this test, so the patch never leaks out.
    monkeypatch.setattr(gx_sql_engine, "_PERSISTED_CONNECTION_DIALECTS", shipped)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute(TABLE_SQL)
    finally:
        con.close()
    return path


def _file_context(root: Path) -> Any:
    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _whole_table(datasource: Any, table: str = "people") -> Any:
    """Get-or-add a table asset and its whole-table batch definition (add_* is not idempotent)."""
    if table in {a.name for a in datasource.assets}:
        asset = datasource.get_asset(table)
    else:
        asset = datasource.add_table_asset(table, table_name=table)
    if "all" in {b.name for b in asset.batch_definitions}:
        return asset.get_batch_definition("all")
    return asset.add_batch_definition_whole_table("all")


def _checkpoint(
    context: Any,
    batch_definition: Any,
    name: str,
    expectations: list[Any],
    result_format: str = "SUMMARY",
) -> Any:
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=[validation],
            result_format={"result_format": result_format},
        )
    )


def _by_type_and_column(checkpoint_result: Any) -> dict[tuple[str, Any], Any]:
    (suite_result,) = checkpoint_result.run_results.values()
    return {(r.expectation_config.type, r.expectation_config.kwargs.get("column")): r for r in suite_result.results}


def test_without_patch_every_expectation_fails(unpatched_gx: None, database: Path) -> None:
    assert not is_duckdb_persisted_connection_enabled()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_sql("raw", connection_string=f"duckdb:///{database}")
    batch = _whole_table(datasource).get_batch()

    result = batch.validate(gxe.ExpectColumnValuesToNotBeNull(column="id"))

    if result.success:
        pytest.skip("GX/duckdb-engine no longer lose results on a closed connection: the patch may go")
    messages = [info["exception_message"] for info in result.exception_info.values()]
    assert any("list index out of range" in m for m in messages), messages


def test_patch_is_idempotent(unpatched_gx: None) -> None:
    before = gx_sql_engine._PERSISTED_CONNECTION_DIALECTS

    enable_duckdb_persisted_connection()
    once = gx_sql_engine._PERSISTED_CONNECTION_DIALECTS
    enable_duckdb_persisted_connection()
    enable_duckdb_persisted_connection()

    assert once == gx_sql_engine._PERSISTED_CONNECTION_DIALECTS
    assert len(once) == len(before) + 1
    assert [d for d in once if d == "duckdb"] == ["duckdb"]
    assert is_duckdb_persisted_connection_enabled()
    # Both ways GX reads the tuple now see DuckDB.
    assert gx_sql_engine._dialect_requires_persisted_connection(connection_string="duckdb:///x.duckdb")
    assert not gx_sql_engine._dialect_requires_persisted_connection(connection_string="postgresql://h/db")


def test_passing_suite_succeeds_and_setup_is_idempotent(
    unpatched_gx: None, database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFORM_GX_DATABASE", str(database))
    expectations = [
        gxe.ExpectTableRowCountToBeBetween(min_value=ROWS, max_value=ROWS, severity="critical"),
        gxe.ExpectColumnValuesToNotBeNull(column="id", meta={"severity": "critical"}),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=18, max_value=77),
    ]
    for _ in range(2):  # a second run over the same project must neither fail nor duplicate anything
        context = _file_context(tmp_path / "project")
        datasource = add_duckdb_datasource(context, "warehouse", "${REFORM_GX_DATABASE}")
        checkpoint = _checkpoint(
            context,
            _whole_table(datasource),
            "people_ok",
            [e.copy(update={"id": None}) for e in expectations],
        )
        result = checkpoint.run()
        assert result.success, result.describe()

    assert list(context.data_sources.all()) == ["warehouse"]
    assert [a.name for a in datasource.assets] == ["people"]
    # The committed config stays portable: the path is substituted at run time, never stored.
    config = (tmp_path / "project" / "gx" / "great_expectations.yml").read_text()
    assert "duckdb:///${REFORM_GX_DATABASE}" in config
    assert str(database) not in config
    assert datasource.kwargs == {"connect_args": {"read_only": True}}
    results = _by_type_and_column(result)
    assert results[("expect_column_values_to_not_be_null", "id")].expectation_config.meta == {"severity": "critical"}
    assert len(results) == len(expectations)


def test_failing_suite_reports_unexpected_counts(unpatched_gx: None, database: Path, tmp_path: Path) -> None:
    context = _file_context(tmp_path / "project")
    datasource = add_duckdb_datasource(context, "warehouse", str(database))
    checkpoint = _checkpoint(
        context,
        _whole_table(datasource),
        "people_bad",
        [
            gxe.ExpectColumnValuesToNotBeNull(column="id", meta={"severity": "critical"}),
            gxe.ExpectColumnValuesToNotBeNull(column="name", severity="warning", meta={"severity": "warning"}),
            gxe.ExpectColumnValuesToBeInSet(column="country", value_set=["DE", "FR"], meta={"severity": "critical"}),
        ],
    )

    result = checkpoint.run()

    assert not result.success
    results = _by_type_and_column(result)
    ok = results[("expect_column_values_to_not_be_null", "id")]
    assert ok.success and not ok.exception_info.get("raised_exception")
    names = results[("expect_column_values_to_not_be_null", "name")]
    assert not names.success
    assert names.result["unexpected_count"] == NULL_NAMES
    assert names.expectation_config.meta == {"severity": "warning"}
    assert names.expectation_config.severity == "warning"
    countries = results[("expect_column_values_to_be_in_set", "country")]
    assert not countries.success
    assert countries.result["unexpected_count"] == BAD_COUNTRIES
    assert set(countries.result["partial_unexpected_list"]) == {"XX"}
    assert countries.expectation_config.meta == {"severity": "critical"}
    (suite_result,) = result.run_results.values()
    assert suite_result.get_max_severity_failure() == "critical"


def test_unexpected_rows_expectation(unpatched_gx: None, database: Path, tmp_path: Path) -> None:
    context = _file_context(tmp_path / "project")
    datasource = add_duckdb_datasource(context, "warehouse", str(database))
    checkpoint = _checkpoint(
        context,
        _whole_table(datasource),
        "people_sql",
        [
            gxe.UnexpectedRowsExpectation(
                unexpected_rows_query="SELECT id, country FROM {batch} WHERE country NOT IN ('DE', 'FR')",
                meta={"severity": "critical"},
            ),
            gxe.UnexpectedRowsExpectation(unexpected_rows_query="SELECT * FROM {batch} WHERE age < 18"),
        ],
        # Rows are only returned under COMPLETE; the checkpoint's format wins over the expectation's.
        result_format="COMPLETE",
    )

    result = checkpoint.run()

    assert not result.success
    (suite_result,) = result.run_results.values()
    by_query = {r.expectation_config.kwargs["unexpected_rows_query"]: r for r in suite_result.results}
    bad = by_query["SELECT id, country FROM {batch} WHERE country NOT IN ('DE', 'FR')"]
    assert not bad.success and not bad.exception_info.get("raised_exception")
    assert bad.result["observed_value"] == BAD_COUNTRIES
    rows = bad.result["details"]["unexpected_rows"]
    assert sorted(rows, key=lambda r: r["id"]) == [{"id": i, "country": "XX"} for i in range(0, ROWS, 250)]
    assert bad.expectation_config.meta == {"severity": "critical"}
    good = by_query["SELECT * FROM {batch} WHERE age < 18"]
    assert good.success and good.result["observed_value"] == 0


def test_read_only_and_update_keep_assets(unpatched_gx: None, database: Path, tmp_path: Path) -> None:
    context = _file_context(tmp_path / "project")
    datasource = add_duckdb_datasource(context, "warehouse", str(database))
    _whole_table(datasource)
    engine = datasource.get_execution_engine()
    with pytest.raises(sa.exc.SQLAlchemyError, match="read-only"):
        engine.execute_query(sa.text("CREATE TABLE scratch (a INTEGER)"))

    assert add_duckdb_datasource(context, "warehouse", str(database)) is datasource
    updated = add_duckdb_datasource(context, "warehouse", str(database), read_only=False)

    assert updated.kwargs == {}
    assert [b.name for b in updated.get_asset("people").batch_definitions] == ["all"]
    reloaded = _file_context(tmp_path / "project").data_sources.get("warehouse")
    assert [a.name for a in reloaded.assets] == ["people"]
    assert reloaded.kwargs == {}
