"""One dbt command in this process that writes its run results but not its manifest.

    python -m ingest.dbt_run build --select ... --target-path DIR ...

What ``dbt`` itself does, through dbt's own entry point (``dbtRunner``), with ``--no-write-json``: dbt
then writes no ``manifest.json``, which it otherwise writes twice per command (after parsing and at
the end: about 0.5 s each for this project's 2.4 MB manifest), and no ``run_results.json`` either; this
writes the run results to ``DIR/run_results.json``, which :func:`ingest.warehouse.run_dbt` reads.
An incremental build needs no manifest (its documentation is its release's; the partial parse file
dbt keeps for the next night is written regardless). Exit codes are dbt's: 0 success, 1 a node
failed, 2 dbt itself failed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

RUN_RESULTS = "run_results.json"

# dbt is started with this in front of its command line: it ends (SIGTERM) when the process that started
# it dies. Cosmos starts dbt in a session of its own, so a killed Airflow task left dbt writing the
# abandoned build file (for seconds at small scale, up to the whole build at province scale, with its
# memory); `reform build` killed with SIGKILL left it too. util-linux's setpriv (in every Debian image);
# where it is missing dbt runs as before.
TIED = ("setpriv", "--pdeathsig", "TERM", "--")


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project's venv), else the one on PATH."""
    dbt = Path(sys.executable).with_name("dbt")
    return str(dbt) if dbt.exists() else "dbt"


def tied_to_parent(command: list[str]) -> list[str]:
    """``command`` made to end when the process that starts it dies (see :data:`TIED`)."""
    return [*TIED, *command] if shutil.which(TIED[0]) else command


def tied_executable(executable: str, folder: Path) -> str:
    """A one-line script in ``folder`` running ``executable`` as :func:`tied_to_parent` does, for a
    caller that takes one executable's path, not a command line (cosmos's ``dbt_executable_path``).
    Written when missing or different (a few bytes); ``executable`` itself where setpriv is missing."""
    if not shutil.which(TIED[0]):
        return executable
    script = folder / f"{Path(executable).name}-tied"
    text = f'#!/bin/sh\nexec {shlex.join(TIED)} {shlex.quote(executable)} "$@"\n'
    if not script.exists() or script.read_text(encoding="utf-8") != text:
        folder.mkdir(parents=True, exist_ok=True)
        written = script.with_name(f".{script.name}.{os.getpid()}.tmp")
        written.write_text(text, encoding="utf-8")
        written.chmod(0o755)
        os.replace(written, script)
    return str(script)


def main(argv: list[str]) -> int:
    from dbt.cli.main import dbtRunner

    if "--target-path" not in argv:
        print("ingest.dbt_run: give --target-path (where run_results.json goes)", file=sys.stderr)
        return 2
    target = Path(argv[argv.index("--target-path") + 1])
    outcome = dbtRunner().invoke([*argv, "--no-write-json"])
    if hasattr(outcome.result, "write"):  # a command that ran nodes (build, run, test, seed)
        target.mkdir(parents=True, exist_ok=True)
        outcome.result.write(str(target / RUN_RESULTS))
    if outcome.success:
        return 0
    return 2 if outcome.exception is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
