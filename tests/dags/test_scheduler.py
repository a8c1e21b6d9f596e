"""A real Airflow scheduler: api-server, scheduler and dag-processor on loopback, reform_nightly triggered
over the REST API, waited for, its warehouse checked, everything shut down.

These are the processes docker-compose.yml runs (`airflow api-server`, `airflow scheduler`,
`airflow dag-processor`), started here directly with LocalExecutor on SQLite.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from ingest.airflow_env import airflow_environ
from ingest.config import Paths
from tests.conftest import run_reform

pytestmark = pytest.mark.slow

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
# reform_nightly runs about 80 tasks one at a time (one per dbt model: ingest.dbt_cosmos), about 2 min here
NIGHTLY_TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, token: str | None = None, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def task_instances(base: str, token: str, dag_id: str, run_id: str = "~") -> list[dict]:
    """Every task instance of a run (``~``: of every run); the API pages at 100, reform_nightly has more."""
    found: list[dict] = []
    while True:
        url = f"{base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={len(found)}"
        page = request(url, token)
        found += page["task_instances"]
        if not page["task_instances"] or len(found) >= page["total_entries"]:
            return found


def task_states(base: str, token: str, dag_id: str, run_id: str) -> dict[str, str]:
    return {t["task_id"]: t["state"] for t in task_instances(base, token, dag_id, run_id)}


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as err:  # the server is still starting
            last = err
        time.sleep(1)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s (last error: {last})")


@pytest.fixture
def airflow_cluster(tmp_path):
    home = tmp_path / "home"
    paths = Paths.from_env(home).ensure()
    port = free_port()
    password = secrets.token_urlsafe(16)
    airflow_home = paths.airflow_home
    airflow_home.mkdir(parents=True, exist_ok=True)
    (airflow_home / "passwords.json").write_text(json.dumps({"tester": password}))
    env = airflow_environ(paths, {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")})
    env.update(
        {
            # no timed run: unpausing then starts nothing, and the run triggered below runs alone
            "REFORM_NIGHTLY_CRON": "",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "1",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(40),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "tester:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
    )
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = []
    for name, args in (
        ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(port)]),
        ("scheduler", ["scheduler", "--skip-serve-logs"]),
        ("dag-processor", ["dag-processor"]),
    ):
        log = (logs / f"{name}.log").open("w")
        processes.append(
            subprocess.Popen([AIRFLOW, *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy():
            body = request(f"{base}/api/v2/monitor/health")
            return all(body.get(part, {}).get("status") == "healthy" for part in ("scheduler", "dag_processor"))

        wait_for(healthy, 120, "scheduler and dag-processor healthy")
        token = request(f"{base}/auth/token", method="POST", body={"username": "tester", "password": password})
        yield {"base": base, "token": token["access_token"], "paths": paths, "logs": logs}
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_scheduler_runs_reform_nightly_triggered_over_rest(airflow_cluster):
    base, token, paths = airflow_cluster["base"], airflow_cluster["token"], airflow_cluster["paths"]
    for args in (("generate",), ("ingest", "--consume")):
        assert run_reform(*args, home=paths.home).returncode == 0

    wait_for(lambda: request(f"{base}/api/v2/dags/reform_nightly", token), 120, "reform_nightly parsed")
    request(f"{base}/api/v2/dags/reform_nightly", token, "PATCH", {"is_paused": False})
    run = request(f"{base}/api/v2/dags/reform_nightly/dagRuns", token, "POST", {"logical_date": None, "conf": {}})
    run_id = run["dag_run_id"]

    def finished():
        state = request(f"{base}/api/v2/dags/reform_nightly/dagRuns/{run_id}", token)["state"]
        return state if state in ("success", "failed") else None

    started = time.monotonic()
    state = wait_for(finished, NIGHTLY_TIMEOUT, "the reform_nightly run to finish")
    print(f"\nreform_nightly under the scheduler: {time.monotonic() - started:.0f}s")
    summary = task_states(base, token, "reform_nightly", run_id)
    failed = {task: state for task, state in summary.items() if state != "success"}
    assert state == "success", (failed, (airflow_cluster["logs"] / "scheduler.log").read_text()[-3000:])
    assert failed == {}
    # the dbt models are tasks (ingest.dbt_cosmos), between prepare and the docs, validation and publish
    assert {"prepare", "dbt.dbt_producer_watcher", "dbt_docs", "validate", "publish", "reports"} <= set(summary)
    assert {"dbt.fct_indicator_observation_run", "dbt.fct_target_progress_run", "dbt.regions_seed"} <= set(summary)
    with duckdb.connect(str(paths.published), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_indicator_observation").fetchall()[0][0] > 500
