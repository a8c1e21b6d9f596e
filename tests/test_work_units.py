"""How ``make test`` splits the suite over two workers (tests/conftest.py): by file, with the files
that read the session's demo warehouse kept together so that it is built once."""

from __future__ import annotations

from tests.conftest import PROJECT_ROOT, SHARED_DEMO, SLOW_UNITS, work_unit


def test_the_files_reading_the_demo_warehouse_are_one_unit():
    assert work_unit("tests/dbt/test_reference_marts.py") == SHARED_DEMO  # through tests/dbt/conftest.py
    assert work_unit("tests/ingest/test_incremental.py") == SHARED_DEMO  # names it itself
    assert work_unit("tests/ingest/test_lake.py") == "tests/ingest/test_lake.py"


def test_every_unit_started_first_still_exists():
    for unit in SLOW_UNITS:
        assert unit == SHARED_DEMO or (PROJECT_ROOT / unit).is_file(), f"SLOW_UNITS names a missing file: {unit}"
    assert len(set(SLOW_UNITS)) == len(SLOW_UNITS)
