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

import sys
from pathlib import Path

RUN_RESULTS = "run_results.json"


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
