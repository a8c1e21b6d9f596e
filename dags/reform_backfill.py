"""reform_backfill: re-read the archived files of a range of periods with today's code, then rebuild.

For after a parser or reference-data fix. Trigger it with the periods in any spelling, e.g.
``{"period_from": "2024Q1", "period_to": "2025年上半年"}`` (``*`` for an open end). Every file keeps its
name and receipt time, so versions and timeliness are unchanged; then the warehouse is rebuilt,
validated and published exactly as reform_nightly does.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from ingest.dag_parts import START_DATE, build_validate_publish, default_args


@dag(
    dag_id="reform_backfill",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["reform", "warehouse", "backfill"],
    params={
        "period_from": Param("*", type="string", description="first period, e.g. 2024, 2024Q1, 2024年9月; * = all"),
        "period_to": Param("*", type="string", description="last period; * = all"),
    },
    default_args=default_args(),
    doc_md=__doc__,
)
def reform_backfill():
    @task
    def reprocess(params=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from ingest.normalize import NormalizationError
        from ingest.tasks import reprocess_periods

        try:
            return reprocess_periods(params["period_from"], params["period_to"])
        except NormalizationError as bad:  # a wrong parameter: retrying cannot help
            raise AirflowFailException(f"{bad} Trigger reform_backfill again with a valid period.") from bad

    build_validate_publish(reprocess())


reform_backfill()
