"""Tests of the container deployment (docker-compose.yml, Dockerfile), and what they share with
tests/dags/test_celery.py, which runs the deployment's topology directly on the host.

- ``DEPLOYED_COMMANDS``: every command a compose service runs, as an argv template. test_celery.py
  launches each of them (and checks it did); test_compose.py checks that every ``command:`` in the
  compose file is one of them. ``{name}`` stands for a value the deployment and the tests choose
  differently (the tests: 127.0.0.1 and free ports).
- ``HOST_ONLY_OPTIONS``: the only options the tests may add to those commands, because they run every
  role on one host.
- ``NOT_RUN_BY_TESTS``: compose commands deliberately not run by the tests, each with the reason
  (written as ``load_compose()`` returns them: ``$$`` already turned into ``$``).
- ``load_compose()``: docker-compose.yml as a dict, ``${VAR:-default}`` interpolated (no Docker needed).
- ``worker_hostname()``: Airflow's ``[core] hostname_callable`` for the tests' Celery workers.

Importing this module has no side effects: Celery workers started by the tests import it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"

DEPLOYED_COMMANDS: dict[str, tuple[str, ...]] = {
    "db migrate": ("airflow", "db", "migrate"),
    "api-server": ("airflow", "api-server", "--host", "{host}", "--port", "{port}"),
    "scheduler": ("airflow", "scheduler", "--skip-serve-logs"),
    "dag-processor": ("airflow", "dag-processor"),
    "triggerer": ("airflow", "triggerer"),
    "celery worker": ("airflow", "celery", "worker"),
}

# option -> how many values follow it. Log servers listen on every interface (no flag to bind them to
# loopback), two workers on one host need distinct Celery node names, one task slot each on 2 cores.
HOST_ONLY_OPTIONS: dict[str, int] = {"--skip-serve-logs": 0, "--celery-hostname": 1, "--concurrency": 1}

NOT_RUN_BY_TESTS: dict[tuple[str, ...], str] = {
    (
        "sh",
        "-c",
        'superset db upgrade && superset fab create-admin --username "${SUPERSET_ADMIN_USER}" '
        '--password "${SUPERSET_ADMIN_PASSWORD}" --firstname Admin --lastname Superset '
        "--email admin@localhost && superset init && superset run -h 0.0.0.0 -p 8088",
    ): "Superset runs from its own image and virtualenv (deploy/superset.Dockerfile: apache-superset 6.1, kept"
    " apart from Airflow's pins); installing it is too heavy for the suite. STACK-NOTES records the recipe"
    " (db upgrade, fab create-admin, init, REST registration of the warehouse) as run by hand.",
}

_PLACEHOLDER = re.compile(r"^\{[a-z_]+\}$")


def matches(template: Sequence[str], argv: Sequence[str]) -> bool:
    """``argv`` is ``template`` word for word, a ``{placeholder}`` standing for any one word."""
    return len(template) == len(argv) and all(
        _PLACEHOLDER.match(t) is not None or t == a for t, a in zip(template, argv, strict=True)
    )


def deployed_command(argv: Sequence[str]) -> str | None:
    """The name of the DEPLOYED_COMMANDS entry that ``argv`` (a compose ``command``) is, if any."""
    return next((name for name, template in DEPLOYED_COMMANDS.items() if matches(template, argv)), None)


def strip_host_only_options(argv: Sequence[str], template: Sequence[str]) -> list[str]:
    """``argv`` without the HOST_ONLY_OPTIONS (and their values) that ``template`` does not have itself."""
    out, i = [], 0
    while i < len(argv):
        word = argv[i]
        if word in HOST_ONLY_OPTIONS and word not in template:
            i += 1 + HOST_ONLY_OPTIONS[word]
            continue
        out.append(word)
        i += 1
    return out


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<sep>:?-)(?P<default>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Compose's ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}``."""

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        value = environ.get(name)
        if match["sep"] == ":-" and not value:
            return match["default"]
        if match["sep"] == "-" and value is None:
            return match["default"]
        return value or ""

    return _VARIABLE.sub(replace, text)


def load_compose(path: Path = COMPOSE_FILE, environ: Mapping[str, str] | None = None) -> dict:
    """The compose file as a dict, interpolated with ``environ`` (default: no variables set)."""
    import yaml

    return yaml.safe_load(interpolate(path.read_text(), environ or {}))


def worker_hostname() -> str:
    """``$HOSTNAME``: Airflow ``[core] hostname_callable`` for the Celery workers the tests start.

    In a container ``HOSTNAME`` is the container's own host name, so each worker reports a different
    one. On one host the tests give each worker its own ``HOSTNAME`` and point Airflow here, so that a
    task instance's ``hostname`` tells which worker ran it.
    """
    import socket

    return os.environ.get("HOSTNAME") or socket.getfqdn()
