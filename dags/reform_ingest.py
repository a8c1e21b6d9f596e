"""reform_ingest: every file in the inbox → the lake, one mapped task per file.

Each task hashes, archives, reads, normalises and writes one file (ingest.tasks.ingest_one). A bad
file is recorded as rejected with its reason and never fails the run; only a system failure does.
When anything new landed, the `reform_lake` asset is updated and reform_nightly can run.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from ingest.assets import REFORM_LAKE
from ingest.dag_parts import START_DATE, default_args


@dag(
    dag_id="reform_ingest",
    schedule="*/30 * * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["reform", "ingest"],
    default_args=default_args(retry_delay=timedelta(seconds=30)),
    params={
        "historical": Param(
            False, type="boolean", description="files from before this system: receipt time = the form's 填报日期"
        )
    },
    doc_md=__doc__,
)
def reform_ingest():
    @task
    def list_inbox() -> list[str]:
        from ingest.tasks import list_inbox

        return list_inbox()

    @task(max_active_tis_per_dagrun=4)
    def ingest_file(path: str, params=None) -> dict:
        from ingest.tasks import ingest_one

        return ingest_one(path, historical=bool(params and params.get("historical")))

    @task
    def validate_landed(outcomes: list[dict]) -> list[dict]:
        from ingest.tasks import validate_landed

        validate_landed(list(outcomes))
        return list(outcomes)

    @task(outlets=[REFORM_LAKE])
    def summarize(outcomes: list[dict]) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from ingest.tasks import NothingNew, summarize_ingest

        try:
            return summarize_ingest(list(outcomes))
        except NothingNew as nothing:
            raise AirflowSkipException(str(nothing)) from nothing

    summarize(validate_landed(ingest_file.expand(path=list_inbox())))


reform_ingest()
