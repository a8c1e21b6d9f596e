"""The one place where Great Expectations (GX) is patched to run on DuckDB.

Bug
---
GX's SQL execution engine (``SqlAlchemyExecutionEngine.execute_query``) runs each
metric query inside ``with engine.connect() as connection:`` and returns the
*cursor result*; the caller calls ``.fetchall()`` only after that ``with`` block
has closed the connection.  Most drivers buffer the rows, so that works.
duckdb-engine does not: once its connection is closed the result is empty, so
``res[0]`` in ``resolve_metric_bundle`` raises ``IndexError`` and *every*
expectation fails with ``MetricResolutionError: list index out of range``
(upstream report: great_expectations issue #10738, "Enable Duckdb sqlalchemy
data source").

GX already has a code path for dialects that must keep one connection open
(SQLite, SQL Server, BigQuery, Databricks): the module-level tuple
``great_expectations.execution_engine.sqlalchemy_execution_engine.
_PERSISTED_CONNECTION_DIALECTS``.  A dialect listed there gets a
``StaticPool`` engine and one kept-open connection, and results are read while
the connection is still alive.  The fix is to add ``"duckdb"`` to that tuple;
nothing else in GX is touched.

Written against great-expectations 1.24.1, duckdb-engine 0.17, duckdb 2.0.0
and SQLAlchemy 2.0.x (``expect_column_values_to_be_of_type`` breaks under
SQLAlchemy 2.1, so keep 2.0.x).

When to drop this module
------------------------
Delete :func:`enable_duckdb_persisted_connection` (and this paragraph) once GX
ships native DuckDB support, i.e. when ``GXSqlDialect`` has a ``DUCKDB`` member
or ``_PERSISTED_CONNECTION_DIALECTS`` already contains ``"duckdb"``.  The
function detects the latter and then does nothing, so an upgrade does not break
anything; ``tests/ingest/test_gx_duckdb.py`` shows whether the bug is still
there (its "without the patch" test stops reproducing the failure).

Connection, portability and locking notes
-----------------------------------------
* The connection string is a GX ``ConfigStr`` when it contains ``${VAR}``, so
  ``add_duckdb_datasource(ctx, "db", "${REFORM_GX_DATABASE}")`` stores
  ``duckdb:///${REFORM_GX_DATABASE}`` in ``great_expectations.yml`` and the
  variable is resolved at run time from the environment or from
  ``uncommitted/config_variables.yml``: the committed project holds no
  machine-specific path.
* ``read_only`` is passed as ``kwargs={"connect_args": {"read_only": True}}``:
  SQLAlchemy hands ``connect_args`` to ``duckdb.connect``, and the dict is saved
  with the datasource config.
* DuckDB allows one read-write process per file, and within one process every
  connection to a file must use the same ``read_only`` setting.  GX keeps its
  connection open for as long as the datasource/execution engine lives (and
  the datasource's own engine pools the connection used by its connection
  test).  :func:`release_duckdb_connections` closes both, e.g. before the
  same process writes to the file or reopens it with another ``read_only``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from great_expectations.execution_engine import (
    sqlalchemy_execution_engine as _gx_sql_engine,
)

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.datasource.fluent import SQLDatasource

__all__ = [
    "DUCKDB_DIALECT",
    "add_duckdb_datasource",
    "duckdb_connection_string",
    "duckdb_settings",
    "enable_duckdb_persisted_connection",
    "is_duckdb_persisted_connection_enabled",
    "release_duckdb_connections",
]

DUCKDB_DIALECT = "duckdb"
"""SQLAlchemy dialect name of duckdb-engine (``engine.dialect.name``)."""

_PERSISTED_ATTR = "_PERSISTED_CONNECTION_DIALECTS"


class _DuckDBDialectName(str):
    """``"duckdb"`` shaped like a ``GXSqlDialect`` member.

    GX reads the persisted-dialect tuple in two ways:
    ``engine.dialect.name in _PERSISTED_CONNECTION_DIALECTS`` (needs ``==`` with a
    plain ``str``) and ``connection_string.startswith(dialect.value)`` (needs a
    ``.value``).  A ``str`` subclass with a ``value`` property satisfies both.
    """

    __slots__ = ()

    @property
    def value(self) -> str:
        """The dialect name, as ``GXSqlDialect.value`` would return it."""
        return str(self)


def _persisted_dialects() -> tuple[Any, ...] | None:
    """Return GX's persisted-connection dialect tuple, or ``None`` if GX lacks it."""
    return getattr(_gx_sql_engine, _PERSISTED_ATTR, None)


def is_duckdb_persisted_connection_enabled() -> bool:
    """Tell whether GX keeps one open connection for DuckDB (natively or patched)."""
    dialects = _persisted_dialects()
    # GXSqlDialect.__eq__ compares case-insensitively with plain strings.
    return dialects is not None and any(d == DUCKDB_DIALECT for d in dialects)


def enable_duckdb_persisted_connection() -> None:
    """Make GX keep one open connection for DuckDB; idempotent.

    Appends ``"duckdb"`` to GX's ``_PERSISTED_CONNECTION_DIALECTS``.  Does
    nothing if it is already there (patched before, or GX handles DuckDB
    itself).  If a future GX no longer has that tuple, warns and does nothing;
    the DuckDB tests then tell whether the bug is gone or needs a new patch.

    GX looks the tuple up on every query, so this also fixes execution engines
    built before the call (they keep their ``QueuePool`` instead of the
    ``StaticPool`` new ones get, which works the same here).
    """
    dialects = _persisted_dialects()
    if dialects is None:
        warnings.warn(
            f"great_expectations no longer defines {_PERSISTED_ATTR}; "
            "ingest.gx_duckdb did not patch it. Check whether GX now supports "
            "DuckDB natively and drop or update this patch.",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    if is_duckdb_persisted_connection_enabled():
        return
    setattr(
        _gx_sql_engine,
        _PERSISTED_ATTR,
        (*dialects, _DuckDBDialectName(DUCKDB_DIALECT)),
    )


def duckdb_connection_string(database_path: str) -> str:
    """Build the SQLAlchemy URL for a DuckDB file.

    ``database_path`` may be absolute, relative to the current working
    directory, or a GX config variable such as ``"${REFORM_GX_DATABASE}"``
    (kept unresolved so the project file stays portable).
    """
    return f"{DUCKDB_DIALECT}:///{database_path}"


def release_duckdb_connections(datasource: SQLDatasource) -> None:
    """Close every DuckDB connection GX holds for ``datasource``.

    Disposes the execution engine (with its kept-open connection) and the
    datasource's own SQLAlchemy engine.  GX reconnects on next use.  Needed
    before the same process opens the file with a different ``read_only``
    setting (DuckDB refuses that while a connection is open) or wants another
    process to get the write lock.
    """
    datasource.get_execution_engine().close()
    datasource.get_engine().dispose()


def add_duckdb_datasource(
    context: AbstractDataContext,
    name: str,
    database_path: str,
    read_only: bool = True,
) -> SQLDatasource:
    """Add, or update in place, a GX SQL datasource on a DuckDB file.

    Applies :func:`enable_duckdb_persisted_connection` first.  Idempotent: if a
    datasource called ``name`` already has the same connection string and
    engine kwargs it is returned as is (nothing is written to the project);
    if its settings differ it is updated and its assets (and their batch
    definitions) are kept.

    Args:
        context: A GX data context (file-backed or ephemeral).
        name: Datasource name.
        database_path: Path to the ``.duckdb`` file, or a config variable such
            as ``"${REFORM_GX_DATABASE}"`` resolved from the environment or
            ``uncommitted/config_variables.yml`` at run time.
        read_only: Open the file read-only (``duckdb.connect(read_only=True)``),
            so validation can never write to the database.  The file must exist.

    Returns:
        The datasource registered in ``context``.
    """
    from great_expectations.datasource.fluent import SQLDatasource

    enable_duckdb_persisted_connection()
    connection_string = duckdb_connection_string(database_path)
    kwargs: dict[str, Any] = {"connect_args": {"read_only": True}} if read_only else {}

    existing = context.data_sources.all().get(name)
    if existing is None:
        return context.data_sources.add_sql(name=name, connection_string=connection_string, kwargs=kwargs)
    if not isinstance(existing, SQLDatasource) or existing.type != "sql":
        msg = f"datasource {name!r} exists and is not a generic SQL datasource: {existing.type!r}"
        raise TypeError(msg)
    if str(existing.connection_string) == connection_string and existing.kwargs == kwargs:
        return existing
    # The old settings' connections would make DuckDB refuse the new ones.
    release_duckdb_connections(existing)
    return context.data_sources.update_sql(
        name=name,
        connection_string=connection_string,
        kwargs=kwargs,
        assets=list(existing.assets),
    )


@contextlib.contextmanager
def duckdb_settings(settings: dict[str, str]) -> Iterator[None]:
    """Apply DuckDB ``settings`` (name → value) to every connection duckdb-engine opens in the block.

    GX opens its connections itself, from the committed datasource, and DuckDB's default memory limit
    is 80 % of the machine: this is how validation gets the build's memory budget and a folder to
    spill to (``memory_limit``, ``temp_directory``) without a machine-specific value in the project.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__.split(".")[0] != "duckdb_engine":
            return  # another database (Airflow's metadata, say)
        for name, value in settings.items():
            dbapi_connection.execute(f"set {name} = '{value}'")

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)
