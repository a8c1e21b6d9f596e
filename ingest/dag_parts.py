"""Task groups the DAGs share (imports only airflow.sdk at module level: cheap to parse)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import task

from ingest.assets import REFORM_WAREHOUSE

OWNER = "reform-data"
START_DATE = pendulum.datetime(2025, 1, 1, tz="Asia/Shanghai")


def default_args(retry_delay: timedelta = timedelta(minutes=1)) -> dict:
    """Every task: owned by the data team, retried twice with exponential backoff."""
    return {"owner": OWNER, "retries": 2, "retry_delay": retry_delay, "retry_exponential_backoff": True}


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
