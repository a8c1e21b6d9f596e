"""Airflow assets the DAGs share (kept apart so DAG files import nothing heavy)."""

from __future__ import annotations

from airflow.sdk import Asset

# Updated by reform_ingest when new files landed in the lake; reform_nightly runs on it.
REFORM_LAKE = Asset(name="reform_lake", uri="file:///reform/lake/raw/submissions")
# Updated by reform_nightly when a new warehouse was published.
REFORM_WAREHOUSE = Asset(name="reform_warehouse", uri="file:///reform/warehouse/reform.duckdb")
