"""reform_statistics: statistical microdata in the inbox → the lake, one mapped task per file.

Enterprise rosters, worker records, trainings, certifications, wages and survey responses, dropped in
`inbox/microdata/<kind>/` (or named `<kind>_….csv`). ID numbers are checked and replaced by keyed
pseudonyms while the file is read (REFORM_PSEUDONYM_KEY); names are never read. Large files stream
through DuckDB in bounded memory. Then exactly as reform_ingest: validate, summarise, emit `reform_lake`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag

from ingest.dag_parts import START_DATE, default_args, ingest_inbox


@dag(
    dag_id="reform_statistics",
    schedule="15 */6 * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["reform", "ingest", "statistics"],
    default_args=default_args(retry_delay=timedelta(minutes=2)),
    doc_md=__doc__,
)
def reform_statistics():
    ingest_inbox("microdata")


reform_statistics()
