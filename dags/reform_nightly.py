"""reform_nightly: build the warehouse from the lake, validate it, publish it.

Runs at 02:00 Asia/Shanghai (``REFORM_NIGHTLY_CRON``, a cron expression in Shanghai time; empty for
no timed run) and whenever reform_ingest lands new files. The build goes into its own
file; Great Expectations validates it; only a build with no critical failure replaces the published
warehouse (an atomic rename, so readers never see a half-built warehouse). A critical failure stops
the run before publish and leaves the previous warehouse in place.

``prepare`` → task group ``dbt`` → ``dbt_docs`` → ``validate`` → ``publish`` → ``reports``. The group is
astronomer-cosmos in watcher mode (``ingest/dbt_cosmos.py``): ``dbt.dbt_producer_watcher`` runs the one
``dbt build`` (seeds, models, data tests; the unit tests run in CI) into the run's build file, and every seed and model
is a task after it (``dbt.<model>_run``, ``dbt.<seed>_seed``) showing that node's result and compiled
SQL. When a model or test fails, the producer fails (its log names the node), the model tasks are
upstream_failed and nothing is published. The dbt tasks never re-run: to rebuild, trigger a new run
(clearing one makes it fail). One task runs at a time (``max_active_tasks=1``), so no two dbt processes
ever open the build file together (DuckDB has one writer).

reform_backfill keeps a single ``dbt_build`` task (one ``dbt build``, as ``reform build`` runs it).

``REFORM_NIGHTLY_MODE=incremental`` makes the nightly incremental, as ``reform build --incremental``:
``prepare`` starts from a copy of the published release and adds only the lake files that arrived
since, whenever that gives the warehouse a full build gives (else it makes a full build and says why),
and one ``dbt_build`` task builds what those files reach (province scale: about half a minute a night
instead of ten). The default, ``full``, rebuilds everything every night, each model a task.
"""

from __future__ import annotations

import os

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag

from ingest.assets import REFORM_LAKE
from ingest.dag_parts import START_DATE, build_validate_publish, default_args

# when the nightly runs, Asia/Shanghai time; empty: only when reform_ingest lands files (or by hand)
NIGHTLY_CRON = os.environ.get("REFORM_NIGHTLY_CRON", "0 2 * * *").strip()
# full: every model rebuilt, each a task; incremental: what tonight's files reach, when that is safe
NIGHTLY_MODE = os.environ.get("REFORM_NIGHTLY_MODE", "full").strip().lower() or "full"
if NIGHTLY_MODE not in ("full", "incremental"):
    raise ValueError(f"REFORM_NIGHTLY_MODE must be full or incremental, not {NIGHTLY_MODE!r}")


@dag(
    dag_id="reform_nightly",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(NIGHTLY_CRON, timezone="Asia/Shanghai"),
        assets=REFORM_LAKE,
    )
    if NIGHTLY_CRON
    else REFORM_LAKE,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,  # one dbt process at a time on the run's DuckDB file (one writer)
    tags=["reform", "warehouse"],
    default_args=default_args(),
    doc_md=__doc__,
)
def reform_nightly():
    if NIGHTLY_MODE == "incremental":
        build_validate_publish(incremental=True)
    else:
        build_validate_publish(models_as_tasks=True)


reform_nightly()
