"""The dbt unit tests: every one of them runs here, and passes.

A build leaves them out (``ingest.warehouse.BUILD_EXCLUDES``, as dbt Labs recommends: their inputs
are fixtures of their own, so they belong in development and CI, not in every nightly build). This is
where CI runs them: ``dbt test --select test_type:unit`` on a copy of the session's demo warehouse,
whose tables give dbt the columns of the inputs a fixture leaves out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ingest import warehouse
from ingest.config import DBT_PROJECT_DIR

pytestmark = pytest.mark.slow


def defined_unit_tests() -> list[str]:
    """The names of the unit tests in the project's YAML files."""
    names = []
    for path in sorted((DBT_PROJECT_DIR / "models").rglob("*.yml")):
        properties = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names += [test["name"] for test in properties.get("unit_tests") or []]
    return names


def test_every_dbt_unit_test_runs_and_passes(home: Path, tmp_path: Path):
    build = tmp_path / "run" / warehouse.WAREHOUSE_FILE_NAME
    build.parent.mkdir()
    shutil.copyfile(home / "warehouse" / warehouse.WAREHOUSE_FILE_NAME, build)  # writable: the published is 0444
    defined = defined_unit_tests()
    assert len(defined) > 30 and len(set(defined)) == len(defined)
    # a failing unit test raises BuildError, naming it
    ran = warehouse.run_dbt(build, ["test", "--select", "test_type:unit"], manifest=False)
    assert ran == len(defined)
