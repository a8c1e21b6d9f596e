"""A nightly build as BI tools and report readers see it.

Superset talks to DuckDB through duckdb-engine and SQLAlchemy, with the URI ``duckdb:///…`` and
``connect_args={"read_only": True}``, and opens a new connection for every query (NullPool). A
second process does exactly that in a loop - a count of the observations and a scorecard query of
the kind a dashboard chart runs - while ``reform build`` runs and publishes a build with one late
form more. Zero errors, queries answered throughout the build, and once the build is published every
new connection sees the new data (and never the old data again). Then the nightly's last step,
``regenerate_changed_reports``, rebuilds the reports of exactly the changed region and its ancestors.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest import report, warehouse
from ingest.config import Paths
from tests.conftest import run_reform

pytestmark = pytest.mark.slow

READER = r"""
import json, os, sys, time
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

path, ready_file, stop_file = sys.argv[1:4]
engine = create_engine(f"duckdb:///{path}", connect_args={"read_only": True}, poolclass=NullPool)
log, errors = [], []
while not os.path.exists(stop_file):
    started = time.time()
    try:
        with engine.connect() as conn:  # a new DuckDB connection per query, as Superset's NullPool
            count = conn.execute(text("select count(*) from marts.fct_indicator_observation")).scalar_one()
            pillars = conn.execute(text(
                "select pillar_code, sum(n_targets), avg(completeness_rate) from marts.rpt_region_scorecard "
                "where region_code = '530700' group by 1 order by 1"
            )).fetchall()
        log.append([started, time.time(), count, len(pillars)])
        if not os.path.exists(ready_file):
            open(ready_file, "w").close()
    except Exception as err:  # any error is a failure of the publishing design
        errors.append(f"{type(err).__name__}: {err}")
        print("reader error:", err, file=sys.stderr, flush=True)
    time.sleep(0.02)
engine.dispose()
print(json.dumps({"log": log, "errors": errors}))
"""

# a late form for 丽江市总工会 (530700): one new observation of 2025
FORM = "单位代码,报告期,指标代码,数值\n530700-ZGH,2025年第二季度,vocational_training_person_times,77\n"


@dataclass
class Nightly:
    paths: Paths
    release_before: str
    unchanged: list[Path]  # regenerate_changed_reports against the published release itself
    reader: dict
    reader_stderr: str
    build: subprocess.CompletedProcess[str]
    build_started: float
    build_ended: float


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def nightly(tmp_path_factory) -> Nightly:
    work = tmp_path_factory.mktemp("bi-reader")
    paths = Paths.from_env(work / "home")
    for args in (("generate",), ("ingest", "--consume"), ("build",)):
        done = run_reform(*args, home=paths.home)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    release_before = warehouse.current_release(paths)
    report.build_report(paths, "530700", 2025)  # a report built from the release before
    unchanged = report.regenerate_changed_reports(paths, since_release=release_before)
    (paths.inbox / "late_form.csv").write_text(FORM, encoding="utf-8")
    assert run_reform("ingest", "--consume", home=paths.home).returncode == 0

    ready, stop, out_file = work / "ready", work / "stop", work / "reader.json"
    with out_file.open("w") as out:
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, str(paths.published), str(ready), str(stop)],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(ready.exists, 60, "the reader's first answer")
            time.sleep(0.5)  # some queries before the build
            build_started = time.time()
            build = run_reform("build", home=paths.home)
            build_ended = time.time()
            time.sleep(1.0)  # some queries after the publish
        finally:
            stop.touch()
            _, err = reader.communicate(timeout=60)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    return Nightly(
        paths, release_before, unchanged, json.loads(out_file.read_text()), err, build, build_started, build_ended
    )


def test_superset_style_reader_through_a_nightly_build(nightly):
    log = nightly.reader["log"]
    assert nightly.reader["errors"] == [], nightly.reader_stderr
    before = [count for started, _, count, _ in log if started < nightly.build_started]
    during = [
        count for started, ended, count, _ in log if started >= nightly.build_started and ended <= nightly.build_ended
    ]
    after = [count for started, _, count, _ in log if started > nightly.build_ended]
    assert len(before) >= 5 and len(during) >= 20 and len(after) >= 5, (len(before), len(during), len(after))
    old = before[0]
    assert set(before) == {old}
    assert set(during) <= {old, old + 1}
    assert set(after) == {old + 1}, "every connection opened after the publish sees the new data"
    counts = [count for _, _, count, _ in log]
    first_new = counts.index(old + 1)
    assert set(counts[first_new:]) == {old + 1}, "once the new build is seen, the old one never comes back"
    assert all(pillars == 5 for *_, pillars in log), "the scorecard answered every time"


def test_nightly_regenerates_the_reports_of_the_changed_region_and_its_ancestors(nightly):
    paths = nightly.paths
    assert nightly.unchanged == [], "nothing changed between a release and itself"
    assert report.previous_release(paths) == nightly.release_before

    written = report.regenerate_changed_reports(paths)  # default: since the release before the published one
    assert sorted(p.name for p in written) == ["000000_2025.html", "530000_2025.html", "530700_2025.html"]
    assert all(p.parent == paths.reports for p in written)
    page = (paths.reports / "530700_2025.html").read_text(encoding="utf-8")
    release = warehouse.current_release(paths)
    assert release != nightly.release_before and f'data-metric="release" data-value="{release}"' in page
    # without the statistics microdata the skill and survey sections say so instead of failing
    assert 'data-section-unavailable="skills"' in page and 'data-section-unavailable="survey"' in page
