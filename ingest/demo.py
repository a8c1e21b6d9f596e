"""``reform demo``: sample data through the real Airflow DAGs into a published, validated warehouse."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ingest import intake, warehouse
from ingest.airflow_env import airflow_command
from ingest.config import Paths
from ingest.generate import generate
from ingest.generate_microdata import generate_microdata
from ingest.summary import print_summary


class DemoFailed(RuntimeError):
    pass


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def run_demo(paths: Paths, use_airflow: bool = True, scale: str = "small", say: Callable[[str], None] = print) -> int:
    started = time.perf_counter()
    paths.ensure()
    files = generate(paths.inbox, scale=scale)
    files += generate_microdata(paths.inbox / "microdata", scale=scale)
    say(f"[1/4] generated {len(files)} sample files (submissions and microdata) in {paths.inbox}")
    before = warehouse.current_release(paths)
    if use_airflow:
        log = paths.home / "logs" / "demo-airflow.log"
        say(f"[2/4] Airflow: migrating the metadata database in {paths.airflow_home} (log: {log})")
        if airflow_command(["db", "migrate"], paths, log) != 0:
            say(_tail(log))
            return 3
        for step, dag_id, extra in (
            ("3/4", "reform_ingest", ["--conf", '{"historical": true}']),
            ("3/4", "reform_statistics", []),
            ("4/4", "reform_nightly", []),
        ):
            say(f"[{step}] airflow dags test {dag_id} {' '.join(extra)}".rstrip())
            code = airflow_command(["dags", "test", dag_id, *extra], paths, log)
            text = log.read_text(encoding="utf-8", errors="replace")
            if code != 0 or "state=failed" in text.rsplit("$ ", 1)[-1].lower().replace(" ", ""):
                say(_tail(log))
                say(f"the {dag_id} run failed; full log: {log}")
                return 1
    else:
        say("[2/4] ingesting the inbox (no Airflow)")
        outcomes = intake.ingest_paths([paths.inbox], paths, consume=True, historical=True)
        say(f"[3/4] {len(outcomes)} files ingested")
        say("[4/4] build, validate, publish")
        try:
            warehouse.build(paths, progress=say)
        except (warehouse.PublishBlocked, warehouse.BuildError) as err:
            say(str(err))
            return 1
    after = warehouse.current_release(paths)
    if after is None or after == before:
        say("the nightly run finished but published no new warehouse; see the logs above")
        return 1
    say(f"demo finished in {time.perf_counter() - started:.0f}s; published release {after}\n")
    return print_summary(paths, say)
