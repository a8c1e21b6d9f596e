"""Test-session environment: every test runs against temporary homes, never the real warehouse.

Set before anything imports Airflow: a throw-away AIRFLOW_HOME (SQLite), no example DAGs, no
analytics calls from GX, and a REFORM_HOME under the session's temp folder.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="reform-tests-"))

os.environ["REFORM_HOME"] = str(_SESSION_DIR / "home")
os.environ["AIRFLOW_HOME"] = str(_SESSION_DIR / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"
os.environ["AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY"] = "False"
os.environ["GX_ANALYTICS_ENABLED"] = "False"
os.environ["REFORM_PSEUDONYM_KEY"] = "test-pseudonym-key"
os.environ.pop("REFORM_INBOX", None)
os.environ.pop("REFORM_LAKE", None)
os.environ.pop("REFORM_ARCHIVE", None)
os.environ.pop("REFORM_WAREHOUSE_DIR", None)


@pytest.fixture
def reform_home(tmp_path, monkeypatch) -> Path:
    """A fresh REFORM_HOME for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("REFORM_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database, migrated once per test session (about 3 s)."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=300)
    return home


@contextlib.contextmanager
def held_elsewhere(lock: Path):
    """``lock`` held (flock) by another live process, as a try that outlived its Airflow task holds it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; h = open(sys.argv[1], 'a+'); fcntl.flock(h, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(600)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def run_reform(*args: str, home: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run the installed ``reform`` command in a separate process with its own REFORM_HOME."""
    env = {**os.environ, "REFORM_HOME": str(home)}
    env.pop("AIRFLOW_HOME", None)  # the command derives it from REFORM_HOME, as in the demo
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    reform = Path(sys.executable).with_name("reform")
    return subprocess.run([str(reform), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    """One demo REFORM_HOME (submissions and microdata: generate, ingest, build), built once per session.

    Read it, never write to it: the dbt mart tests (as ``home``) and the sharded build's tests share it.
    """
    home = tmp_path_factory.mktemp("dbt-marts") / "home"
    for command in (["generate", "--microdata"], ["ingest", "--consume"], ["build"]):
        done = run_reform(*command, home=home, timeout=600)
        assert done.returncode == 0, f"reform {' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return home


# Survey estimates add non-integer design weights in floating point; DuckDB does not fix the order in
# which it adds them (parallel hash aggregation), so these two marts can differ in the last bits of
# their doubles (about 1e-16, relative) between two builds of the same data. Their doubles are compared
# to 12 significant digits and every other column exactly; every other table is compared exactly. (All
# other sums in the marts are sums of whole numbers - counts, and the demo's values - which floating
# point adds exactly in any order.)
FLOAT_ORDER_SENSITIVE = {"marts.fct_survey_estimate", "marts.rpt_survey_highlights"}


def table_differences(con, table: str) -> tuple[int, int]:
    """Rows of ``a.<table>`` missing from ``b.<table>`` and the other way round, duplicates included
    (two warehouses attached as ``a`` and ``b``)."""
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = 'a' "
        "and schema_name = ? and table_name = ? order by column_index",
        table.split("."),
    ).fetchall()
    if table in FLOAT_ORDER_SENSITIVE:
        select = ", ".join(f"printf('%.12g', {c})" if t == "DOUBLE" else c for c, t in columns)
    else:
        select = ", ".join(c for c, _ in columns)
    one_way = f"select count(*) from (select {select} from a.{table} except all select {select} from b.{table})"
    other_way = f"select count(*) from (select {select} from b.{table} except all select {select} from a.{table})"
    return con.execute(one_way).fetchall()[0][0], con.execute(other_way).fetchall()[0][0]


# --- running the suite on two workers (pytest-xdist; ``make test`` runs ``pytest -n 2 --dist loadfile``) ---
# The work unit is a test file, so its module fixtures (a demo, an Airflow scheduler) are built once; the
# files reading the session's demo warehouse (``demo_home``) are one unit, so it is built once. (xdist's
# own ``loadgroup`` cannot express this under pytest 9.2: it renames ``item._nodeid``, which pytest no
# longer reads.) Units start longest first, so that the last one to finish is short.
SHARED_DEMO = "demo_home"
SLOW_UNITS = (  # the slowest, longest first (--durations=0 on 2 workers, session 12: 427 s down to 60 s)
    "tests/e2e/test_demo.py",
    SHARED_DEMO,
    "tests/dags/test_celery.py",
    "tests/dags/test_scheduler.py",
    "tests/dags/test_dag_runs.py",
    "tests/ingest/test_warehouse.py",
    "tests/e2e/test_report.py",
    "tests/e2e/test_bi_reader.py",
    "tests/e2e/test_readers_during_build.py",
    "tests/bench/test_core_agreement.py",
    "tests/bench/test_bench_small.py",
)


def work_unit(nodeid: str) -> str:
    """The xdist work unit of a test (its node id, or its file relative to the project): :data:`SHARED_DEMO`
    when its file, or a ``conftest.py`` between it and ``tests/``, names the ``demo_home`` fixture; else the file."""
    return _file_unit(nodeid.split("::")[0])


@functools.cache
def _file_unit(test_file: str) -> str:
    path = PROJECT_ROOT / test_file
    sources = [path, *(folder / "conftest.py" for folder in path.parents if folder > PROJECT_ROOT / "tests")]
    if any(source.is_file() and SHARED_DEMO in source.read_text(encoding="utf-8") for source in sources):
        return SHARED_DEMO
    return test_file


def pytest_collection_modifyitems(config, items) -> None:
    """On an xdist worker: check that :func:`work_unit` finds every user of ``demo_home``; order by unit."""
    if not hasattr(config, "workerinput"):  # not a worker (whose own ``dist`` option xdist sets to "no")
        return
    rank = {unit: index for index, unit in enumerate(SLOW_UNITS)}
    for item in items:
        if SHARED_DEMO in getattr(item, "fixturenames", ()) and work_unit(item.nodeid) != SHARED_DEMO:
            raise pytest.UsageError(f"{item.nodeid} uses {SHARED_DEMO} through a path work_unit() does not see")
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))  # stable within a unit


@pytest.hookimpl(optionalhook=True)  # a hook of xdist's: none without it (``-p no:xdist``)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, with :func:`work_unit` as the unit and the collection's order kept."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # by SLOW_UNITS (above), not by test count
    return ByWorkUnit(config, log)
