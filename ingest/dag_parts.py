"""Task groups the DAGs share (imports only airflow.sdk at module level: cheap to parse)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import task

from ingest.assets import REFORM_WAREHOUSE

OWNER = "reform-data"
START_DATE = pendulum.datetime(2025, 1, 1, tz="Asia/Shanghai")


def record_failure(context) -> None:
    """on_failure_callback: every failed task is written to the lake's audit with what to do about it."""
    from ingest.tasks import record_failure as record

    ti = context["ti"]
    record(ti.dag_id, ti.run_id, ti.task_id, int(getattr(ti, "try_number", 0) or 0), context.get("exception"))


def default_args(retry_delay: timedelta = timedelta(minutes=1)) -> dict:
    """Every task: owned by the data team, retried twice with exponential backoff, failures audited."""
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "on_failure_callback": record_failure,
    }


def build_validate_publish(upstream=None):
    """Add prepare → dbt build → Great Expectations → publish → reports to the DAG being defined.

    A critical validation failure fails ``validate`` (no retry) and ``publish`` never runs.
    """

    @task
    def prepare(_ready=None) -> str:
        from ingest.tasks import prepare_build

        return str(prepare_build()["run_id"])

    @task
    def dbt_build(build_id: str) -> str:
        from ingest.tasks import dbt_build

        dbt_build(build_id)
        return build_id

    @task(retries=0)
    def validate(build_id: str) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from ingest.tasks import validate_build
        from ingest.warehouse import PublishBlocked

        try:
            validate_build(build_id)
        except PublishBlocked as blocked:
            raise AirflowFailException(str(blocked)) from blocked
        return build_id

    @task(outlets=[REFORM_WAREHOUSE])
    def publish(build_id: str) -> str:
        from ingest.tasks import publish_build

        return publish_build(build_id)

    @task
    def reports(build_id: str) -> list[str]:
        from ingest.tasks import regenerate_reports

        return regenerate_reports(build_id)

    build_id = validate(dbt_build(prepare(upstream)))
    published = publish(build_id)
    published >> reports(build_id)
    return published


def ingest_inbox(kind: str):
    """Add list → one mapped ingest task per file → validate the landed files → summarise (emits
    ``reform_lake`` when anything new landed) for ``kind``: "submissions" or "microdata"."""
    from ingest.assets import REFORM_LAKE

    @task
    def list_inbox() -> list[str]:
        from ingest.tasks import list_inbox

        return list_inbox(kind)

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

    return summarize(validate_landed(ingest_file.expand(path=list_inbox())))
