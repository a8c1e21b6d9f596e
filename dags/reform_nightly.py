"""reform_nightly: build the warehouse from the lake, validate it, publish it.

Runs at 02:00 Asia/Shanghai and whenever reform_ingest lands new files. The build goes into its own
file; Great Expectations validates it; only a build with no critical failure replaces the published
warehouse (an atomic rename, so readers never see a half-built warehouse). A critical failure stops
the run before publish and leaves the previous warehouse in place.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag

from ingest.assets import REFORM_LAKE
from ingest.dag_parts import START_DATE, build_validate_publish, default_args


@dag(
    dag_id="reform_nightly",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 2 * * *", timezone="Asia/Shanghai"),
        assets=REFORM_LAKE,
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["reform", "warehouse"],
    default_args=default_args(),
    doc_md=__doc__,
)
def reform_nightly():
    build_validate_publish()


reform_nightly()
