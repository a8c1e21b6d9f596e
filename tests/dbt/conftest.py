"""The dbt mart tests read the session's demo warehouse (``demo_home`` in tests/conftest.py).

Every test here only reads it (read-only connection), so sharing it saves two builds.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="session")
def home(demo_home) -> Path:
    return demo_home


@pytest.fixture(scope="module")
def con(home):
    connection = duckdb.connect(str(home / "warehouse" / "reform.duckdb"), read_only=True)
    yield connection
    connection.close()
