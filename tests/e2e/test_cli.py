"""The ``reform`` command's answers to a newcomer's mistakes: a clear message and exit code 2, nothing changed.

Read-only on the session's demo warehouse (``demo_home``): every command here is refused before it
writes, or only reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.conftest import run_reform


def _releases(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "warehouse" / "releases").iterdir())


def _unit_with_refused_rows(home: Path) -> str:
    with duckdb.connect(str(home / "warehouse" / "reform.duckdb"), read_only=True) as con:
        return con.execute(
            "select reporting_unit_code from audit.ingest_files where status = 'loaded_with_quarantine' "
            "and source_kind = 'submissions' order by 1 limit 1"
        ).fetchone()[0]


def test_a_unit_code_the_warehouse_does_not_know_is_an_error_not_a_clean_report(demo_home):
    unit = _unit_with_refused_rows(demo_home)
    typo = unit[:-1] + ("Q" if unit[-1] != "Q" else "R")
    done = run_reform("quality", "--unit", typo, home=demo_home)
    assert done.returncode == 2, done.stdout
    assert f"no reporting unit '{typo}'" in done.stdout and "did you mean" in done.stdout
    assert unit in done.stdout  # the code a one-letter typo was meant to be is suggested
    assert "rows refused at ingest" not in done.stdout

    typed = f" {unit.lower().replace('-', '－')} "  # as a clerk may type it: lower case, a full-width dash
    lower = run_reform("quality", "--unit", typed, home=demo_home)
    assert lower.returncode == 0, lower.stdout
    assert f"data-quality report for {unit}" in lower.stdout
    assert "rows refused at ingest: 0" not in lower.stdout  # the unit's own refused rows, found


def test_a_run_id_already_used_or_not_a_plain_name_is_refused_before_building(demo_home):
    releases = _releases(demo_home)
    for run_id, said in ((releases[0], "already used by a release"), ("../../elsewhere", "is not allowed")):
        done = run_reform("build", "--run-id", run_id, home=demo_home)
        assert done.returncode == 2, done.stdout + done.stderr[-2000:]
        assert said in done.stdout and "Traceback" not in done.stderr
    assert _releases(demo_home) == releases
    assert not (demo_home / "elsewhere").exists() and not (demo_home.parent / "elsewhere").exists()


def test_output_piped_into_a_reader_that_has_gone_ends_quietly(demo_home):
    # `reform status | head -2`: the pipe's reading end is closed before the first line is written
    reader, writer = os.pipe()
    os.close(reader)
    try:
        reform = Path(sys.executable).with_name("reform")
        env = {**os.environ, "REFORM_HOME": str(demo_home)}
        done = subprocess.run([str(reform), "summary"], stdout=writer, stderr=subprocess.PIPE, env=env, text=True)
    finally:
        os.close(writer)
    assert done.returncode == 141
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


def test_usage_mistakes_in_an_empty_home_say_what_to_do(tmp_path):
    home = tmp_path / "empty"
    scale = run_reform("demo", "--scale", "huge", home=home)
    assert scale.returncode == 2 and "invalid choice: 'huge'" in scale.stderr and "Traceback" not in scale.stderr
    for command in (["summary"], ["status"], ["quality", "--unit", "530700-ZGH"]):
        done = run_reform(*command, home=home)
        assert done.returncode == 2, (command, done.stdout)
        assert "no published warehouse" in done.stdout and "reform build" in done.stdout
    releases = run_reform("releases", home=home)
    assert releases.returncode == 0 and "no releases" in releases.stdout
    ingest = run_reform("ingest", home=home)
    assert ingest.returncode == 2 and "there is no inbox at" in ingest.stdout and "reform generate" in ingest.stdout

    # a build of an empty lake publishes the targets, and says that no data came in
    build = run_reform("build", home=home)
    assert build.returncode == 0, build.stdout[-2000:]
    assert "holds no received files" in build.stdout
    summary = run_reform("summary", home=home)
    assert summary.returncode == 0 and "files received: 0\n" in summary.stdout


def test_a_refused_files_whole_note_is_shown_with_what_to_fix(tmp_path):
    """The note's last words say what to do; the table wraps a long note instead of cutting it."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "workers_2025.csv").write_text("姓名,行政区划代码,技能等级\n张三,530702,技师\n")  # no ID column
    done = run_reform("ingest", str(inbox), home=tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("workers_2025.csv"))
    wrapped = [lines[at], *(line for line in lines[at + 1 :] if line.startswith(" " * 92))]
    note = " ".join(line.strip() for line in wrapped).split("rejected", 1)[1]
    assert note.endswith("has no column for 公民身份号码; add it to the header row (line 1) and send the file again.")
    assert len(wrapped) == 2 and all(len(line) <= 92 + 80 for line in wrapped)


def test_the_demo_scales_the_command_offers_are_the_generators():
    from ingest.cli import DEMO_SCALES
    from ingest.generate import SCALES

    assert tuple(SCALES) == DEMO_SCALES
