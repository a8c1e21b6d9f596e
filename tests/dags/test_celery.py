"""The deployment's own topology, run directly on the host: what docker-compose.yml runs in containers.

PostgreSQL is Airflow's metadata database and the Celery result backend, Redis the Celery broker
(both from scripts/services.py, on loopback); `airflow db migrate`, then `airflow api-server`,
`airflow scheduler`, `airflow dag-processor`, `airflow triggerer` and two `airflow celery worker`
processes with CeleryExecutor. reform_nightly is triggered over the REST API, waited for, its warehouse
checked, and the task instances' `hostname` tells which worker ran each task. The compose file's own
health checks are then run against these processes.

Every command comes from `tests.deploy.DEPLOYED_COMMANDS` (the commands the compose services run)
plus only `tests.deploy.HOST_ONLY_OPTIONS` (no log servers, which listen on every interface; distinct
Celery node names; one task slot per worker); tests/deploy/test_compose.py checks that the compose file
runs nothing else. On one host the workers tell themselves apart through `HOSTNAME` and Airflow's
`[core] hostname_callable` (`tests.deploy.worker_hostname`), as containers do through their host names.

Every process runs in its own process group and is stopped with SIGTERM, then SIGKILL after 20 s (the
scheduler can miss SIGTERM with parallelism > 1, apache/airflow#67870). The test process is made a
"child subreaper" meanwhile, so processes orphaned during shutdown are reaped here instead of lingering
as zombies under a PID 1 that does not reap them.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import psycopg2
import pytest

from ingest.airflow_env import airflow_environ
from ingest.config import PROJECT_ROOT, Paths
from tests.conftest import run_reform
from tests.dags.test_scheduler import NIGHTLY_TIMEOUT, free_port, request, task_instances, wait_for
from tests.deploy import (
    DEPLOYED_COMMANDS,
    NOT_RUN_BY_TESTS,
    deployed_command,
    load_compose,
    matches,
    strip_host_only_options,
)

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
HOST = "127.0.0.1"
WORKERS = ("reform-worker-1", "reform-worker-2")
# besides one task per dbt seed and model (ingest.dbt_cosmos), all in the task group `dbt.`
NIGHTLY_TASKS = ["prepare", "dbt.dbt_producer_watcher", "dbt_docs", "validate", "publish", "reports"]
HOSTNAME_CALLABLE = "tests.deploy.worker_hostname"  # each worker reports its own HOSTNAME
STOP_GRACE_SECONDS = 20
PR_SET_CHILD_SUBREAPER = 36


def load_services():
    """scripts/services.py, loaded by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("reform_services", PROJECT_ROOT / "scripts" / "services.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command(name: str, *host_only: str, **values: str) -> list[str]:
    """DEPLOYED_COMMANDS[name] with its placeholders filled, run by this venv's airflow, plus host-only options."""
    argv = [part.format(**values) for part in DEPLOYED_COMMANDS[name]]
    return [AIRFLOW, *argv[1:], *host_only]


def _set_subreaper(on: bool) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def _in_sessions(sessions: set[int]) -> list[tuple[int, int, str]]:
    """(pid, parent pid, state) of every process in ``sessions``, zombies included."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) in sessions:
                found.append((int(stat.parent.name), int(fields[1]), fields[0]))
    return found


def _reap(sessions: set[int]) -> list[int]:
    """Collect our exited children in ``sessions`` (orphans are handed to us as subreaper); the live rest."""
    alive = []
    for pid, parent, state in _in_sessions(sessions):
        if state in ("Z", "X") and parent == os.getpid() and pid not in sessions:  # leaders: Popen.wait()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        elif state not in ("Z", "X"):
            alive.append(pid)
    return alive


class Processes:
    """Long-running processes, each in its own process group, logged to ``logs/<name>.log``."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}
        self.launched: list[list[str]] = []  # argv as run, with "airflow" for this venv's airflow

    def run(self, argv: list[str], env: dict[str, str], timeout: int = 300) -> None:
        self.launched.append(["airflow", *argv[1:]] if argv[0] == AIRFLOW else argv)
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{argv}:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.launched.append(["airflow", *argv[1:]] if argv[0] == AIRFLOW else argv)
        with (self.logs / f"{name}.log").open("w") as log:
            self.running[name] = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-chars:]

    def stop(self) -> dict[str, str]:
        """SIGTERM every process group, SIGKILL whatever is left after the grace period; how each ended.

        A process's session holds all its descendants, also those in process groups of their own
        (each Airflow task runs in one), so the sessions are what is waited for, killed and reaped.
        """
        sessions = {process.pid for process in self.running.values()}  # start_new_session: sid == pid
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while [p.poll() for p in self.running.values()].count(None) or _reap(sessions):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        outcome = {name: "killed after the SIGTERM grace" for name, p in self.running.items() if p.poll() is None}
        while alive := _reap(sessions):
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        for name, process in self.running.items():
            process.wait()
            outcome.setdefault(name, f"exited {process.returncode}")
        _reap(sessions)
        self.running.clear()
        return outcome


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """PostgreSQL and Redis on loopback for this module (installed with apt-get if missing)."""
    module = load_services()
    state_dir = tmp_path_factory.mktemp("services")
    state = module.start(state_dir)
    try:
        yield module, state
    finally:
        module.stop(state_dir)


@pytest.fixture(scope="module")
def celery_cluster(services, tmp_path_factory):
    module, state = services
    tmp = tmp_path_factory.mktemp("celery")
    paths = Paths.from_env(tmp / "home").ensure()
    airflow_home = paths.airflow_home
    airflow_home.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(16)
    (airflow_home / "passwords.json").write_text(json.dumps({"tester": password}))
    database = module.create_database(state, "airflow_celery")
    port = free_port()
    env = airflow_environ(paths, {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")})
    env.update(
        {
            # no timed run: unpausing then starts nothing, and the run triggered below runs alone
            "REFORM_NIGHTLY_CRON": "",
            "PATH": os.pathsep.join([str(BIN), env.get("PATH", "")]),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database.replace("postgresql://", "postgresql+psycopg2://", 1),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": state["redis_url"],
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://{HOST}:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(40),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "tester:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
    )
    logs = tmp / "logs"
    logs.mkdir()
    processes = Processes(logs)
    _set_subreaper(True)
    timings = {}
    started = time.monotonic()
    try:
        processes.run(command("db migrate"), env)
        timings["db migrate"] = time.monotonic() - started
        processes.start("api-server", command("api-server", host=HOST, port=str(port)), env)
        processes.start("scheduler", command("scheduler"), env)
        processes.start("dag-processor", command("dag-processor"), env)
        processes.start("triggerer", command("triggerer", "--skip-serve-logs"), env)
        workers = {}
        for name in WORKERS:
            workers[name] = {**env, "HOSTNAME": name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE}
            host_only = ("--celery-hostname", f"celery@{name}", "--concurrency", "1", "--skip-serve-logs")
            processes.start(name, command("celery worker", *host_only), workers[name])
        base = f"http://{HOST}:{port}"

        def healthy():
            body = request(f"{base}/api/v2/monitor/health")
            parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
            return all(body.get(part, {}).get("status") == "healthy" for part in parts)

        try:
            wait_for(healthy, 180, "scheduler, dag-processor and triggerer healthy")
        except TimeoutError as err:
            raise TimeoutError(f"{err}\n{processes.log_tail('scheduler')}") from None
        timings["healthy"] = time.monotonic() - started
        token = request(f"{base}/auth/token", method="POST", body={"username": "tester", "password": password})
        yield {
            "base": base,
            "port": port,
            "token": token["access_token"],
            "paths": paths,
            "env": env,
            "worker_env": workers,
            "database": database,
            "processes": processes,
            "services": state,
            "timings": timings,
        }
    finally:
        outcome = processes.stop()
        _set_subreaper(False)
        print(f"\ncelery cluster: {timings}; shutdown: {outcome}")


def test_celery_workers_run_reform_nightly_triggered_over_rest(celery_cluster):
    base, token, paths = celery_cluster["base"], celery_cluster["token"], celery_cluster["paths"]
    for args in (("generate",), ("ingest", "--consume")):
        assert run_reform(*args, home=paths.home).returncode == 0

    wait_for(lambda: request(f"{base}/api/v2/dags/reform_nightly", token), 120, "reform_nightly parsed")
    request(f"{base}/api/v2/dags/reform_nightly", token, "PATCH", {"is_paused": False})
    run = request(f"{base}/api/v2/dags/reform_nightly/dagRuns", token, "POST", {"logical_date": None, "conf": {}})
    run_id = run["dag_run_id"]

    def finished():
        state = request(f"{base}/api/v2/dags/reform_nightly/dagRuns/{run_id}", token)["state"]
        return state if state in ("success", "failed") else None

    state = wait_for(finished, NIGHTLY_TIMEOUT, "the reform_nightly run to finish")
    summary = {t["task_id"]: t["state"] for t in task_instances(base, token, "reform_nightly", run_id)}
    processes = celery_cluster["processes"]
    failed = {task: state for task, state in summary.items() if state != "success"}
    assert state == "success", (failed, *(processes.log_tail(w) for w in WORKERS))
    assert failed == {}
    assert set(NIGHTLY_TASKS) <= set(summary)
    assert {"dbt.fct_indicator_observation_run", "dbt.fct_target_progress_run"} <= set(summary)
    with duckdb.connect(str(paths.published), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_indicator_observation").fetchall()[0][0] > 500

    # Which worker ran what (the cluster has no timed run: REFORM_NIGHTLY_CRON is empty, so this is the
    # only run): each task instance names a worker in its `hostname`, and that worker's own log shows it
    # executing that very task instance.
    def all_finished():
        runs = request(f"{base}/api/v2/dags/reform_nightly/dagRuns", token)["dag_runs"]
        return runs if all(r["state"] in ("success", "failed") for r in runs) else None

    runs = wait_for(all_finished, NIGHTLY_TIMEOUT, "every reform_nightly run to finish")
    everything = task_instances(base, token, "reform_nightly")
    assert len(everything) == len(summary) * len(runs)
    # the scheduler itself marks EmptyOperators (cosmos's markers) done: no worker runs them
    ran_on = {(t["dag_run_id"], t["task_id"]): t["hostname"] for t in everything if t["operator"] != "EmptyOperator"}
    print(f"\nruns: {[(r['dag_run_id'], r['state']) for r in runs]}; tasks per worker: {Counter(ran_on.values())}")
    assert len(ran_on) > 70 * len(runs)
    assert set(ran_on.values()) <= set(WORKERS), ran_on
    logs = {worker: processes.log_tail(worker, 10_000_000) for worker in WORKERS}
    for (run, task), worker in ran_on.items():
        executed = f"run_id={run}/task_id={task}/"
        assert [w for w in WORKERS if executed in logs[w]] == [worker], (run, task, worker)

    # the Celery result backend (db+postgresql://) recorded every task a worker ran. A worker stores a
    # task's result after the task has reported its state to Airflow, so the last one can lag the run.
    def backend_results() -> dict[str, int]:
        with contextlib.closing(psycopg2.connect(celery_cluster["database"])) as con, con.cursor() as cur:
            cur.execute("select status, count(*) from celery_taskmeta group by status")
            return dict(cur.fetchall())

    with contextlib.suppress(TimeoutError):
        wait_for(lambda: backend_results().get("SUCCESS", 0) >= len(ran_on), 60, "every result stored")
    results = backend_results()
    assert results.get("SUCCESS", 0) >= len(ran_on), results


def test_the_cluster_runs_every_command_the_compose_file_runs(celery_cluster):
    launched = celery_cluster["processes"].launched
    for name, template in DEPLOYED_COMMANDS.items():
        assert any(matches(template, strip_host_only_options(argv, template)) for argv in launched), (name, launched)


def _host_healthchecks(cluster) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each compose health check, as run here: loopback ports instead of the services' own, per worker."""
    services, env = cluster["services"], cluster["env"]
    pg_bin = Path(services["postgres"]["bin_dir"])
    checks = {}
    for name, service in load_compose()["services"].items():
        if "healthcheck" not in service or tuple(service.get("command", ())) in NOT_RUN_BY_TESTS:
            continue
        test = service["healthcheck"]["test"]
        argv = list(test[1:]) if test[0] == "CMD" else ["sh", "-c", test[1]]
        argv = [part.replace("localhost:8080", f"{HOST}:{cluster['port']}") for part in argv]
        image = service.get("image", "")
        if image.startswith("postgres:"):
            pg = services["postgres"]
            argv = [str(pg_bin / argv[0]), "-h", pg["host"], "-p", str(pg["port"]), *argv[1:]]
        elif image.startswith("redis:"):
            redis = services["redis"]
            argv = [argv[0], "-h", redis["host"], "-p", str(redis["port"]), *argv[1:]]
        if deployed_command(service.get("command", ())) == "celery worker":
            for worker, worker_env in cluster["worker_env"].items():
                checks[f"{name} ({worker})"] = (argv, worker_env)
        else:
            checks[name] = (argv, env)
    return checks


def test_the_compose_health_checks_pass_against_the_cluster(celery_cluster):
    checks = _host_healthchecks(celery_cluster)
    assert {"postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"} <= set(checks)
    assert sum(name.startswith("airflow-worker") for name in checks) == len(WORKERS)
    running = {
        name: subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, (argv, env) in checks.items()
    }
    failed = {}
    for name, process in running.items():
        output, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            failed[name] = (checks[name][0], output[-1500:])
    assert failed == {}
