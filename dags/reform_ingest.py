"""reform_ingest: every unit submission in the inbox → the lake, one mapped task per batch of files.

Each task hashes, archives, reads and normalises up to 64 files and commits them together as one lake
segment (ingest.tasks.ingest_many): a province's backlog of 100,000 forms is some 1,500 tasks, not
100,000. A bad file is recorded as rejected with its reason and never fails the run; only a system
failure does, and then nothing of the batch was committed and its retry redoes it.
The raw suites then check the files that landed. When anything new landed, the `reform_lake` asset
is updated and reform_nightly can run. Statistical microdata are reform_statistics' job.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag

from ingest.dag_parts import START_DATE, default_args, ingest_inbox


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
    ingest_inbox("submissions")


reform_ingest()
