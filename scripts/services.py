"""PostgreSQL and Redis on loopback for tests and by hand: install if missing, start, report, stop.

The container deployment (docker-compose.yml) runs Airflow with PostgreSQL as its metadata database
and Redis as the Celery broker. The tests run the same topology directly on the host; this module
gives them throw-away servers::

    python scripts/services.py start  [--dir DIR]   # install if missing, start, print the URLs
    python scripts/services.py status [--dir DIR]   # what runs, with its URLs (exit 1 if not running)
    python scripts/services.py stop   [--dir DIR]   # stop both and delete their data

``DIR`` (default ``$REFORM_SERVICES_DIR`` or ``<tmp>/reform-services-<uid>``) holds the state file
``services.json`` (URLs, ports, pids), the logs and Redis's working folder.

From Python, e.g. a pytest fixture (``scripts/`` is not a package; load this file by path)::

    spec = importlib.util.spec_from_file_location("reform_services", "scripts/services.py")
    services = importlib.util.module_from_spec(spec); spec.loader.exec_module(services)
    state = services.start(tmp_dir)                 # {"postgres_url": ..., "redis_url": ..., ...}
    url = services.create_database(state, "airflow")   # postgresql://user:password@127.0.0.1:port/airflow
    ...
    services.stop(tmp_dir)

What it does:

- **Install** (`ensure_installed`): only when the binaries are absent, ``apt-get install -y -q
  postgresql redis-server`` (just the missing ones; ``apt-get update`` once if the install fails on
  stale package lists). Needs root. Package scripts are kept from starting the system services (a
  temporary ``/usr/sbin/policy-rc.d`` when there is none): we want our own servers, not the system's.
- **PostgreSQL**: ``initdb`` (as the ``postgres`` user when run as root; PostgreSQL refuses to run as
  root) into a fresh folder, a role with a random password, ``listen_addresses=127.0.0.1`` on a free
  port, the Unix socket inside the data folder, durability off (``fsync``, ``synchronous_commit``,
  ``full_page_writes``: test data only). As root the cluster lives in a ``mkdtemp`` folder under the
  system temp dir, because the ``postgres`` user cannot enter private folders such as pytest's.
- **Redis**: ``bind 127.0.0.1``, a free port, no persistence (``save ""``, ``appendonly no``).
- Both run in their own sessions as children of the calling process, which reaps them on ``stop``
  (nothing is left as ``<defunct>``, even where PID 1 reaps orphans late or never). Started from the
  CLI, they outlive it; ``stop`` then signals them by pid (checked against the process's command line
  first) and their exit is collected by PID 1.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
STATE_FILE = "services.json"
PG_USER = "reform"
PG_DATABASE = "reform"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")

# Popen objects of the servers this process started, by pid, so that stop() can reap them.
_CHILDREN: dict[int, subprocess.Popen] = {}


# ---------------------------------------------------------------------------------------------- paths


def default_dir() -> Path:
    """``$REFORM_SERVICES_DIR``, else ``<tmp>/reform-services-<uid>``."""
    value = os.environ.get("REFORM_SERVICES_DIR")
    return Path(value) if value else Path(tempfile.gettempdir()) / f"reform-services-{os.getuid()}"


def pg_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (Debian), else the folder of ``initdb`` on PATH."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0),
    )
    if candidates:
        return candidates[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def redis_server() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None
    )


# -------------------------------------------------------------------------------------------- install


def ensure_installed(quiet: bool = True) -> float:
    """Install PostgreSQL and/or Redis with apt-get when their binaries are absent.

    Returns the seconds spent installing (0.0 when both were present).
    """
    missing = [
        package
        for package, present in (("postgresql", pg_bin_dir() is not None), ("redis-server", redis_server() is not None))
        if not present
    ]
    if not missing:
        return 0.0
    if os.geteuid() != 0:
        raise RuntimeError(f"missing {', '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}`")
    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", *missing]
    output = subprocess.PIPE if quiet else None
    made_policy = not POLICY_RC_D.exists()
    if made_policy:  # keep package scripts from starting the system's own servers
        POLICY_RC_D.write_text("#!/bin/sh\n# written by reform scripts/services.py during apt-get install\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        result = subprocess.run(install, env=env, stdout=output, stderr=subprocess.STDOUT, text=True, check=False)
        if result.returncode != 0:  # stale or missing package lists: refresh once, then retry
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=output, stderr=subprocess.STDOUT, check=True)
            result = subprocess.run(install, env=env, stdout=output, stderr=subprocess.STDOUT, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(install)} failed:\n{(result.stdout or '')[-3000:]}")
    finally:
        if made_policy:
            POLICY_RC_D.unlink(missing_ok=True)
    if pg_bin_dir() is None or redis_server() is None:
        raise RuntimeError(f"installed {', '.join(missing)} but the binaries are still not found")
    return time.monotonic() - started


# ------------------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (reaps it when it is our child)."""
    if pid in _CHILDREN:
        return _CHILDREN[pid].poll() is None
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _spawn(argv: list[str], log: Path, *, user: str | None = None, cwd: Path | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
        )
    _CHILDREN[process.pid] = process
    return process


def _stop_pid(pid: int, expect: str, first_signal: int, timeout: float) -> None:
    """Send ``first_signal`` to ``pid`` (only if its command line contains ``expect``), wait, then SIGKILL."""
    if not _running(pid) or expect not in _cmdline(pid):
        _CHILDREN.pop(pid, None)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, first_signal)
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # its own session: the whole group
        while _running(pid):
            time.sleep(0.05)
    process = _CHILDREN.pop(pid, None)
    if process is not None:
        process.wait()


def _wait(check, process: subprocess.Popen, timeout: float, log: Path, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ChildProcessError(f"{what} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {timeout:.0f}s:\n{log.read_text()[-2000:]}")


# ----------------------------------------------------------------------------------------- PostgreSQL


def _start_postgres(state_dir: Path) -> dict:
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (ensure_installed() installs it)")
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else None
    if as_root:  # the postgres user must be able to enter the folder: not under a private one
        root = Path(tempfile.mkdtemp(prefix="reform-pg-"))
        os.chown(root, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
    else:
        root = state_dir / "postgres"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
    data = root / "data"
    password = secrets.token_hex(16)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if as_root:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    log = state_dir / "postgres.log"
    options = ["-E", "UTF8", "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"]
    initdb = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}", *options, "--no-instructions"],
        cwd=root,
        user=user,
        group=pwd.getpwnam(user).pw_gid if user else None,
        extra_groups=[] if user else None,
        capture_output=True,
        text=True,
        check=False,
    )
    pwfile.unlink()
    if initdb.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\n# reform scripts/services.py: loopback only, test data (no durability)\n"
            f"listen_addresses = '{HOST}'\nunix_socket_directories = '{root}'\n"
            "max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
    for _attempt in range(3):  # a free port can be taken between choosing it and binding it
        port = free_port()
        process = _spawn([str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)], log, user=user, cwd=root)

        def ready(data=data):
            lines = (data / "postmaster.pid").read_text().splitlines()
            return len(lines) > 7 and lines[7].strip() == "ready"

        try:
            _wait(ready, process, 60, log, "PostgreSQL")
            break
        except ChildProcessError:
            _CHILDREN.pop(process.pid, None)
            if "already in use" not in log.read_text():
                shutil.rmtree(root, ignore_errors=True)
                raise
    else:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL could not bind a free port; see {log}")
    info = {
        "pid": process.pid,
        "host": HOST,
        "port": port,
        "user": PG_USER,
        "password": password,
        "root": str(root),
        "bin_dir": str(bin_dir),
        "log": str(log),
    }
    _createdb(info, PG_DATABASE)
    return info


def _createdb(info: dict, name: str) -> None:
    createdb = str(Path(info["bin_dir"]) / "createdb")
    subprocess.run(
        [createdb, "-h", info["host"], "-p", str(info["port"]), "-U", info["user"], name],
        env={**os.environ, "PGPASSWORD": info["password"]},
        check=True,
        capture_output=True,
        text=True,
    )


def postgres_url(state: dict, database: str = PG_DATABASE, scheme: str = "postgresql") -> str:
    """``scheme://user:password@127.0.0.1:port/database`` (e.g. scheme ``postgresql+psycopg2``)."""
    pg = state["postgres"]
    return f"{scheme}://{pg['user']}:{pg['password']}@{pg['host']}:{pg['port']}/{database}"


def create_database(state: dict, name: str) -> str:
    """Create database ``name`` (letters, digits, underscores) and return its ``postgresql://`` URL."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a plain database name: {name!r}")
    _createdb(state["postgres"], name)
    return postgres_url(state, name)


# ---------------------------------------------------------------------------------------------- Redis


def _redis_ping(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def _start_redis(state_dir: Path) -> dict:
    server = redis_server()
    if server is None:
        raise RuntimeError("Redis is not installed (ensure_installed() installs it)")
    work = state_dir / "redis"
    work.mkdir(parents=True, exist_ok=True)
    log = state_dir / "redis.log"
    for _attempt in range(3):
        port = free_port()
        argv = [server, "--bind", HOST, "--port", str(port), "--protected-mode", "yes", "--daemonize", "no"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(work), "--logfile", ""]
        process = _spawn(argv, log)
        try:
            _wait(lambda port=port: _redis_ping(port), process, 30, log, "Redis")
            break
        except ChildProcessError:
            _CHILDREN.pop(process.pid, None)
            if "in use" not in log.read_text():
                raise
    else:
        raise RuntimeError(f"Redis could not bind a free port; see {log}")
    return {"pid": process.pid, "host": HOST, "port": port, "log": str(log)}


# -------------------------------------------------------------------------------------- start / stop


def read_state(state_dir: Path | str | None = None) -> dict | None:
    path = Path(state_dir or default_dir()) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def status(state_dir: Path | str | None = None) -> dict:
    """``{"postgres": bool, "redis": bool, "state": <the state or None>}``: whether each answers."""
    state = read_state(state_dir)
    result = {"postgres": False, "redis": False, "state": state}
    if state:
        pg, redis = state["postgres"], state["redis"]
        result["postgres"] = _running(pg["pid"]) and "postgres" in _cmdline(pg["pid"])
        with contextlib.suppress(OSError):
            result["redis"] = _running(redis["pid"]) and _redis_ping(redis["port"])
    return result


def start(state_dir: Path | str | None = None, *, install: bool = True) -> dict:
    """Start PostgreSQL and Redis (installing them first if needed); return and save the state.

    Idempotent: if both servers of ``state_dir`` still run, their state is returned unchanged.
    """
    state_dir = Path(state_dir or default_dir()).resolve()
    current = status(state_dir)
    if current["postgres"] and current["redis"]:
        return current["state"]
    if current["state"]:
        stop(state_dir)
    install_seconds = ensure_installed() if install else 0.0
    state_dir.mkdir(parents=True, exist_ok=True)
    postgres = _start_postgres(state_dir)
    try:
        redis = _start_redis(state_dir)
    except BaseException:
        _stop_postgres(postgres)
        raise
    state = {"dir": str(state_dir), "postgres": postgres, "redis": redis, "install_seconds": round(install_seconds, 1)}
    state["postgres_url"] = postgres_url(state)
    state["redis_url"] = f"redis://{HOST}:{redis['port']}/0"
    path = state_dir / STATE_FILE
    path.write_text(json.dumps(state, indent=2) + "\n")
    path.chmod(0o600)  # it holds the database password
    return state


def _stop_postgres(info: dict) -> None:
    _stop_pid(info["pid"], "postgres", signal.SIGINT, 30)  # SIGINT = fast shutdown
    root = Path(info["root"])
    if root.name.startswith("reform-pg-") or root.name == "postgres":
        shutil.rmtree(root, ignore_errors=True)


def stop(state_dir: Path | str | None = None) -> bool:
    """Stop both servers of ``state_dir`` and delete their data. False if nothing was recorded there."""
    state_dir = Path(state_dir or default_dir())
    state = read_state(state_dir)
    if state is None:
        return False
    _stop_pid(state["redis"]["pid"], "redis-server", signal.SIGTERM, 15)
    shutil.rmtree(state_dir / "redis", ignore_errors=True)
    _stop_postgres(state["postgres"])
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return True


# ------------------------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--dir", type=Path, default=default_dir(), help="state folder (default: %(default)s)")
    parser.add_argument("--no-install", action="store_true", help="fail instead of running apt-get")
    parser.add_argument("--json", action="store_true", help="print the whole state as JSON")
    args = parser.parse_args(argv)
    state_dir = args.dir
    if args.action == "start":
        state = start(state_dir, install=not args.no_install)
        if state.get("install_seconds"):
            print(f"installed in {state['install_seconds']} s", file=sys.stderr)
    elif args.action == "stop":
        stopped = stop(state_dir)
        print("stopped" if stopped else f"nothing recorded in {state_dir}")
        return 0
    else:
        current = status(state_dir)
        state = current["state"]
        if not (current["postgres"] and current["redis"]):
            print(f"not running (postgres: {current['postgres']}, redis: {current['redis']}; {state_dir})")
            return 1
    if args.json:
        print(json.dumps(state, indent=2))
    else:
        print(f"postgres: {state['postgres_url']}\nredis:    {state['redis_url']}\nstate:    {state_dir / STATE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
