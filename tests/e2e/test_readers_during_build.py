"""A reader holds the published warehouse open and queries it in a loop through a whole nightly build.

Zero reader errors, zero build errors, and the reader's next connection sees the new data. The reader
runs in its own process, as a BI tool or an analyst's notebook would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import run_reform

pytestmark = pytest.mark.slow

READER = r"""
import json, sys, time, duckdb
path, stop_file = sys.argv[1], sys.argv[2]
con = duckdb.connect(path, read_only=True)
queries = errors = 0
seen = set()
import os
while not os.path.exists(stop_file):
    try:
        seen.add(con.execute("select count(*) from marts.fct_indicator_observation").fetchall()[0][0])
        queries += 1
    except Exception as err:  # any error is a failure of the publishing design
        errors += 1
        print("reader error:", err, file=sys.stderr)
    time.sleep(0.02)
con.close()
fresh = duckdb.connect(path, read_only=True)
after = fresh.execute("select count(*) from marts.fct_indicator_observation").fetchall()[0][0]
print(json.dumps({"queries": queries, "errors": errors, "seen": sorted(seen), "fresh": after}))
"""

FORM = "单位代码,报告期,指标代码,数值\n530700-ZGH,2025年第二季度,vocational_training_person_times,77\n"


def test_reader_keeps_working_through_a_nightly_build(tmp_path):
    home = tmp_path / "home"
    for args in (("generate",), ("ingest", "--consume"), ("build",)):
        done = run_reform(*args, home=home)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    published = home / "warehouse" / "reform.duckdb"
    (home / "inbox" / "late_form.csv").write_text(FORM, encoding="utf-8")
    assert run_reform("ingest", "--consume", home=home).returncode == 0

    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # the reader holds its connection before the build starts
    build = run_reform("build", home=home)
    time.sleep(0.5)
    stop.touch()
    out, err = reader.communicate(timeout=60)

    assert build.returncode == 0, build.stdout[-2000:]
    report = json.loads(out)
    assert report["errors"] == 0, err
    assert report["queries"] > 20
    assert len(report["seen"]) == 1, "an open connection keeps reading the warehouse it opened"
    assert report["fresh"] == report["seen"][0] + 1, "a new connection sees the new build"
