"""reform_nightly's dbt models as Airflow tasks, through astronomer-cosmos in its *watcher* mode.

Imported only while a DAG that uses it is being defined (``ingest.dag_parts`` imports it inside a
function), so the other DAG files never pay for cosmos.

How it runs (``ExecutionMode.WATCHER``, task group ``dbt``):

- ``dbt.dbt_producer_watcher`` runs one ``dbt build`` (seeds, models and data tests, in
  dbt's own order, failing on any failed test) against the run's build file, exactly what ``reform
  build`` runs. It is the only task that writes to that file in the group (DuckDB allows one writer).
- every seed and model has a task (``dbt.<seed>_seed``, ``dbt.<model>_run``, wired as dbt's lineage).
  They run no dbt: each reads its node's result, which the producer pushed to XCom as dbt reported it,
  and logs it (status, timings, compiled SQL). They run after the producer, so they never hold a worker
  slot waiting for it and need no triggerer; when the build fails they are ``upstream_failed`` and the
  producer's log names the failing node.
- no task of the group is ever retried or re-run (``retries=0``, and :func:`refuse_rerun` fails a
  cleared one): cosmos would otherwise skip a re-run producer and let each model task rebuild its own
  model with ``dbt run --select`` (several dbt processes, and no tests). To rebuild, trigger a new run.
- ``reform_nightly`` runs one task at a time (``max_active_tasks=1``): whatever cosmos does, no two dbt
  processes ever open the same build file at once.

The project is not parsed by dbt at DAG-parse time: cosmos reads a ``manifest.json``
(``LoadMode.DBT_MANIFEST``, about 0.3 s per parse). :func:`ensure_manifest` produces it with ``dbt
parse`` (about 3.5 s, no database, no network) the first time a parse sees a dbt project whose files
changed, and keeps it in ``dbt_project/target/cosmos/`` under a fingerprint of those files: a fresh
clone, ``make demo`` and ``make test`` need no extra step, and an edited model is a task at the next parse.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ingest.config import DBT_PROJECT_DIR
from ingest.dbt_run import dbt_executable, tied_executable, tied_to_parent

GROUP_ID = "dbt"
PRODUCER_TASK_ID = f"{GROUP_ID}.dbt_producer_watcher"
# What dbt reads to build the manifest; target/, logs/ and dbt_packages/ are its output.
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml", "selectors.yml")
PROJECT_DIRS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
MANIFESTS_KEPT = 3
# the data tests; not the unit tests, which CI runs (see ingest.warehouse.BUILD_EXCLUDES)
BUILD_TESTS_TOO = ("--resource-type", "test")


def primary_key(model: dict) -> list[str]:
    """A dbt model's declared primary key: its contract's ``primary_key`` constraint, on the model or on
    one column. ``model`` is its YAML properties or its manifest node (columns as a list or by name);
    [] when it declares none."""
    key: list[str] = []
    for constraint in model.get("constraints") or []:
        if constraint.get("type") == "primary_key":
            key = list(constraint.get("columns") or [])
    columns = model.get("columns") or []
    for column in columns.values() if isinstance(columns, dict) else columns:
        if any(c.get("type") == "primary_key" for c in column.get("constraints") or []):
            key = [column["name"]]
    return key


def project_fingerprint(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """A hash of every file dbt reads to parse the project, and of the dbt version (a few ms)."""
    digest = hashlib.sha256(f"dbt-core {importlib.metadata.version('dbt-core')}\n".encode())
    files = [project_dir / name for name in PROJECT_FILES if (project_dir / name).is_file()]
    for folder in PROJECT_DIRS:
        files += sorted(p for p in (project_dir / folder).rglob("*") if p.is_file())
    for path in files:
        digest.update(f"{path.relative_to(project_dir)}\n".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """The ``manifest.json`` of the project as it is now, made with ``dbt parse`` if there is none yet.

    Safe when several processes parse the DAG at once (a lock, then an atomic rename). ``dbt parse``
    opens no database: ``REFORM_DUCKDB_PATH`` points at a scratch path that is never created.
    """
    cache = project_dir / "target" / "cosmos"
    manifest = cache / f"manifest-{project_fingerprint(project_dir)}.json"
    if manifest.exists():
        return manifest
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists():  # another process made it while this one waited
            return manifest
        work = Path(tempfile.mkdtemp(prefix="parse-", dir=cache))
        try:
            command = [dbt_executable(), "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
            command += ["--target-path", str(work), "--log-path", str(work / "logs"), "--no-partial-parse"]
            env = {
                **os.environ,
                "REFORM_DUCKDB_PATH": str(work / "never-opened.duckdb"),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            }
            done = subprocess.run(
                tied_to_parent(command), env=env, capture_output=True, text=True, timeout=300, check=False
            )
            if done.returncode != 0 or not (work / "manifest.json").exists():
                raise RuntimeError(
                    f"`dbt parse` of {project_dir} failed (exit {done.returncode}); reform_nightly cannot show "
                    f"its models as tasks until the project parses:\n{(done.stdout + done.stderr)[-3000:]}"
                )
            os.replace(work / "manifest.json", manifest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for old in sorted(cache.glob("manifest-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)[
            MANIFESTS_KEPT:
        ]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    return manifest


def refuse_rerun(context) -> None:
    """``pre_execute`` of every dbt task: only a task's first try runs (see the module docstring)."""
    from airflow.sdk.exceptions import AirflowFailException

    ti = context["ti"]
    if ti.try_number > 1:
        raise AirflowFailException(
            f"{ti.task_id} does not run again (try {ti.try_number}): the dbt build runs once per reform_nightly "
            "run, in dbt.dbt_producer_watcher, and the model tasks only report its results. Trigger a new "
            "reform_nightly run to rebuild; the published warehouse is unchanged."
        )


def dbt_task_group(build_path: str, as_of_date: str = ""):
    """A cosmos ``DbtTaskGroup`` (group id ``dbt``) building the warehouse file ``build_path``.

    ``build_path`` and ``as_of_date`` are rendered at run time (Jinja templates pulling the ``prepare``
    task's XCom): cosmos templates its operators' ``env``, which ``profiles.yml`` reads as
    ``REFORM_DUCKDB_PATH`` and the as-of macro as ``REFORM_AS_OF_DATE`` (the date fixed for the build).
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    group = DbtTaskGroup(
        group_id=GROUP_ID,
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=ensure_manifest(),
            project_name="reform",
            install_dbt_deps=False,  # no packages; `dbt deps` would need the internet
        ),
        profile_config=ProfileConfig(
            profile_name="reform", target_name="build", profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            # dbt in its own process: dbt-duckdb keeps the file open for the life of the process, and the
            # docs and validation steps open it next (in `airflow dags test`, in this same process).
            invocation_mode=InvocationMode.SUBPROCESS,
            # ended when the task's process dies (cosmos starts dbt in a session of its own)
            dbt_executable_path=tied_executable(dbt_executable(), DBT_PROJECT_DIR / "target" / "cosmos"),
            # TestBehavior.NONE below makes cosmos limit the producer's build to `--resource-type model,
            # seed, snapshot`; this adds the data tests back (dbt builds the union).
            setup_operator_args={"dbt_cmd_flags": list(BUILD_TESTS_TOO)},
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # Tests run inside the producer's `dbt build` (each after all its parents, before the models
            # downstream of it), not as tasks: a task per tested model nearly doubled the group (140 tasks
            # instead of 77, about 4 min instead of 2 under the scheduler) and showed nothing the producer
            # does not: it fails on any failing test, and the tasks after it then never run.
            test_behavior=TestBehavior.NONE,
            # Irrelevant with no test tasks, and wrong in watcher mode anyway: cosmos 1.15.1's watcher never
            # reports a detached test's result (its task pokes until it times out). STACK-NOTES' reason to
            # detach (a relationships test run before its second parent exists) is a hazard of one dbt
            # invocation per model, which this is not.
            should_detach_multiple_parents_tests=False,
            emit_datasets=False,  # the build file is not the published warehouse; `publish` emits that asset
        ),
        operator_args={
            "env": {
                "REFORM_DUCKDB_PATH": build_path,
                "REFORM_AS_OF_DATE": as_of_date,
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            },
            "append_env": True,
            "retries": 0,
            "pre_execute": refuse_rerun,
            "deferrable": False,  # results are in XCom by the time a model task starts: no triggerer needed
            "poke_interval": 2,
            "timeout": 300,  # a result that is not there after the build never comes
        },
    )
    producer = group.get_child_by_label(PRODUCER_TASK_ID.split(".", 1)[1])
    for root in list(group.get_roots()):
        if root is not producer:
            producer >> root
    return group
