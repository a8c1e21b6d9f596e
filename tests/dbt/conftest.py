"""One demo warehouse (submissions and microdata) built once per test session for the dbt mart tests.

Every test here only reads it (read-only connection), so sharing it saves two builds.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_reform


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("dbt-marts") / "home"
    for command in (["generate", "--microdata"], ["ingest", "--consume"], ["build"]):
        done = run_reform(*command, home=home, timeout=600)
        assert done.returncode == 0, f"reform {' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return home


@pytest.fixture(scope="module")
def con(home):
    connection = duckdb.connect(str(home / "warehouse" / "reform.duckdb"), read_only=True)
    yield connection
    connection.close()
