"""The environment for running this project's DAGs with a project-local Airflow (demo and tests).

Airflow keeps its metadata in SQLite under ``REFORM_HOME/airflow`` unless ``AIRFLOW_HOME`` or
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` say otherwise, reads DAGs from this repository's ``dags/``,
and never loads the example DAGs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingest.config import DAGS_DIR, PROJECT_ROOT, Paths


def airflow_environ(paths: Paths, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    home = paths.airflow_home
    env.update(
        {
            "REFORM_HOME": str(paths.home),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": env.get("REFORM_DAGS_FOLDER", str(DAGS_DIR)),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            # the dbt producer is never retried (ingest.dbt_cosmos): no XCom backup into a Variable per push
            "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "GX_ANALYTICS_ENABLED": "False",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")])),
        }
    )
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    return env


def airflow_command(args: list[str], paths: Paths, log_file: Path, timeout: int = 900) -> int:
    """Run ``airflow ARGS`` with the project environment; output goes to ``log_file``."""
    paths.airflow_home.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    executable = Path(sys.executable).with_name("airflow")
    command = [str(executable) if executable.exists() else "airflow", *args]
    with log_file.open("a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        completed = subprocess.run(
            command,
            env=airflow_environ(paths),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    return completed.returncode
