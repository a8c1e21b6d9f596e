"""Every data location, derived from one root so tests and scratch runs never touch the real warehouse.

``REFORM_HOME`` (default: the project folder) holds::

    inbox/                    files as units send them (the only place people drop things)
    archive/<sha256>.<ext>    every received file, byte for byte
    lake/raw/<source>/<sha256>.parquet     canonical rows of one received file
    lake/audit/ingest_files/<sha256>.parquet   one record per received file
    lake/audit/quarantine/<sha256>.parquet     refused rows of that file
    lake/audit/validation/<run_id>.parquet     Great Expectations results of one run
    warehouse/build/<run_id>/reform.duckdb     a build in progress (nobody else opens it)
    warehouse/releases/<run_id>/reform.duckdb  the last few published builds (rollback)
    warehouse/reform.duckdb                    the published warehouse (read it read-only)
    airflow/                  AIRFLOW_HOME for the demo and tests (SQLite)

Each location can also be overridden on its own (``REFORM_INBOX``, ``REFORM_ARCHIVE``, ``REFORM_LAKE``,
``REFORM_WAREHOUSE_DIR``, ``AIRFLOW_HOME``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds" / "reference"
GX_PROJECT_DIR = PROJECT_ROOT / "expectations"
DAGS_DIR = PROJECT_ROOT / "dags"
SHANGHAI = ZoneInfo("Asia/Shanghai")  # where due dates are set and reports are dated

WAREHOUSE_FILE_NAME = "reform.duckdb"
DBT_PARSE_FILE = "partial_parse.msgpack"  # dbt's parse of the project, kept with each release
# What one build may hold in memory before DuckDB spills to the build's folder (dbt reads the same
# variable in profiles.yml). 3 GB keeps a province-scale build well inside a 4 GiB budget.
DUCKDB_MEMORY_LIMIT_ENV = "REFORM_DUCKDB_MEMORY_LIMIT"
DEFAULT_DUCKDB_MEMORY_LIMIT = "3GB"


def duckdb_build_config(spill_dir: Path) -> dict[str, object]:
    """Settings of every connection that writes a build file: a memory limit, spilling beside the build,
    and no insertion order to keep (the lake's rows carry their file and row number)."""
    return {
        "memory_limit": os.environ.get(DUCKDB_MEMORY_LIMIT_ENV, DEFAULT_DUCKDB_MEMORY_LIMIT),
        "temp_directory": str(spill_dir),
        "preserve_insertion_order": False,
    }


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Paths:
    """All data locations of one ``REFORM_HOME``."""

    home: Path
    inbox: Path
    archive: Path
    lake: Path
    warehouse_dir: Path
    airflow_home: Path
    reports: Path

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> Paths:
        root = Path(home).expanduser().resolve() if home else _env_path("REFORM_HOME", PROJECT_ROOT)
        return cls(
            home=root,
            inbox=_env_path("REFORM_INBOX", root / "inbox"),
            archive=_env_path("REFORM_ARCHIVE", root / "archive"),
            lake=_env_path("REFORM_LAKE", root / "lake"),
            warehouse_dir=_env_path("REFORM_WAREHOUSE_DIR", root / "warehouse"),
            airflow_home=_env_path("AIRFLOW_HOME", root / "airflow") if home is None else root / "airflow",
            reports=root / "reports",
        )

    @property
    def published(self) -> Path:
        """The published warehouse that analysts and BI tools open read-only."""
        return self.warehouse_dir / WAREHOUSE_FILE_NAME

    @property
    def builds(self) -> Path:
        return self.warehouse_dir / "build"

    @property
    def releases(self) -> Path:
        return self.warehouse_dir / "releases"

    def ensure(self) -> Paths:
        for path in (self.inbox, self.archive, self.lake, self.builds, self.releases):
            path.mkdir(parents=True, exist_ok=True)
        return self
