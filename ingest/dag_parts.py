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


def build_validate_publish(upstream=None, models_as_tasks: bool = False, incremental: bool = False):
    """Add prepare → dbt build → Great Expectations → publish → reports to the DAG being defined.

    ``incremental``: ``prepare`` builds on the published release when that is safe (else a full build,
    saying why in its log and return value), as ``reform build --incremental`` does; with one
    ``dbt_build`` task (a task per model cannot show a build of some of them).

    With ``models_as_tasks`` (reform_nightly) the dbt build is the cosmos task group ``dbt`` (one
    ``dbt build`` producer, then one task per seed and model reporting its result: see
    ``ingest.dbt_cosmos``) followed by ``dbt_docs``; the DAG using it must run one task at a time
    (``max_active_tasks=1``).
    Without (reform_backfill), one ``dbt_build`` task runs ``dbt build`` and the docs, as ``reform build`` does.

    A critical validation failure fails ``validate`` (no retry) and ``publish`` never runs.
    """

    @task
    def prepare(_ready=None, ti=None, dag_run=None) -> str:
        from ingest.tasks import prepare_build
        from ingest.warehouse import airflow_build_id

        build_id = None  # one per run, the same on a retry
        if dag_run is not None:
            build_id = airflow_build_id(dag_run.dag_id, dag_run.run_id, dag_run.clear_number or 0, dag_run.run_after)
        prepared = prepare_build(build_id, incremental=incremental)
        if ti is not None:  # the dbt task group reads the build file's path from here
            ti.xcom_push(key="build_path", value=str(prepared["build_path"]))
            ti.xcom_push(key="as_of_date", value=str(prepared["as_of_date"]))
        return str(prepared["run_id"])

    @task
    def dbt_build(build_id: str) -> str:
        from ingest.tasks import dbt_build

        dbt_build(build_id)
        return build_id

    @task
    def dbt_docs(build_id: str) -> str:
        from ingest.tasks import dbt_docs

        dbt_docs(build_id)
        return build_id

    if incremental and models_as_tasks:
        raise ValueError("an incremental build runs as one dbt_build task, not a task per model")
    prepared = prepare(upstream)
    if models_as_tasks:
        from ingest.dbt_cosmos import dbt_task_group

        models = dbt_task_group(
            "{{ ti.xcom_pull(task_ids='prepare', key='build_path') }}",
            "{{ ti.xcom_pull(task_ids='prepare', key='as_of_date') }}",
        )
        built = dbt_docs(prepared)
        prepared >> models >> built
    else:
        built = dbt_build(prepared)
    return validate_publish_reports(built)


def validate_publish_reports(build_id):
    """Add Great Expectations → publish → reports after the task that returns ``build_id``.

    A critical validation failure fails ``validate`` at once (``AirflowFailException``: no retry) and
    ``publish`` never runs; any other failure (a killed worker, a full disk) is retried like every task's.
    """

    @task
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

    validated = validate(build_id)
    published = publish(validated)
    published >> reports(validated)
    return published


def ingest_inbox(kind: str):
    """List → one mapped ingest task per batch of files → validate the landed files → summarise (emits
    ``reform_lake`` when anything new landed) for ``kind``: "submissions" (up to 64 forms a task,
    committed together as one lake segment) or "microdata" (a file a task)."""
    from ingest.assets import REFORM_LAKE

    @task
    def list_inbox() -> list[list[str]]:
        from ingest.tasks import list_inbox_batches

        return list_inbox_batches(kind)

    @task(max_active_tis_per_dagrun=4)
    def ingest_files(paths: list[str], params=None) -> list[dict]:
        from airflow.sdk import get_current_context

        from ingest.tasks import ingest_many

        context = get_current_context()  # the task instance: a retry finds what its earlier try did
        task_key = f"{context['dag'].dag_id}/{context['run_id']}/{context['ti'].map_index}"
        return ingest_many(paths, historical=bool(params and params.get("historical")), task_key=task_key)

    # the two steps after the mapped ingest read its batches' results themselves and return only counts:
    # passing every file's outcome on (a province backlog: 100,000 of them) made one XCom and one log
    # line ("Returned value was") of tens of megabytes
    @task
    def validate_landed(batches: list[list[dict]]) -> dict:
        from ingest.tasks import validate_landed

        return validate_landed([outcome for batch in batches for outcome in batch])

    @task(outlets=[REFORM_LAKE])
    def summarize(batches: list[list[dict]]) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from ingest.tasks import NothingNew, summarize_ingest

        try:
            return summarize_ingest([outcome for batch in batches for outcome in batch])
        except NothingNew as nothing:
            raise AirflowSkipException(str(nothing)) from nothing

    landed = ingest_files.expand(paths=list_inbox())
    validate_landed(landed) >> summarize(landed)


def shards_roll_up_publish():
    """Add plan → provinces → one mapped task per province shard → national roll-up → Great Expectations →
    publish → reports to the DAG being defined (reform_nightly_sharded; the design is in ``ingest.shards``).

    Each mapped task builds, validates and exports one province on whichever worker takes it (retried;
    a critical validation failure fails it at once). The roll-up runs only when every shard succeeded,
    so a province's failure leaves the previous warehouse published, and the failure is audited in
    ``lake/audit/task_failures`` like any task's. DAG param ``dbt_vars`` reaches every dbt build.
    """

    @task
    def plan() -> str:
        from ingest.shards import plan_build

        return str(plan_build()["run_id"])

    @task
    def provinces(build_id: str) -> list[str]:
        from ingest.shards import planned_shards

        return planned_shards(build_id)

    @task(map_index_template="{{ province }}")
    def build_province(build_id: str, province: str, params=None) -> dict:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from ingest.shards import build_province
        from ingest.warehouse import PublishBlocked

        get_current_context()["province"] = province  # the mapped task's name in the UI
        try:
            return build_province(build_id, province, (params or {}).get("dbt_vars") or None)
        except PublishBlocked as blocked:  # the province's data fail a critical check: retrying cannot help
            raise AirflowFailException(str(blocked)) from blocked

    @task
    def roll_up(build_id: str, manifests, params=None) -> str:
        from ingest.shards import roll_up_build

        built = {m["shard"]: m["host"] for m in manifests}
        roll_up_build(build_id, (params or {}).get("dbt_vars") or None)
        print(f"national roll-up of {len(built)} shards (shard: host) {built}")
        return build_id

    planned = plan()
    manifests = build_province.partial(build_id=planned).expand(province=provinces(planned))
    return validate_publish_reports(roll_up(planned, manifests))
