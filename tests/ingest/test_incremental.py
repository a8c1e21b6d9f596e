"""Incremental builds (`reform build --incremental`, ingest/incremental.py) give the warehouse a full build gives.

The session's demo warehouse is copied, a resubmission and a form with a refused row arrive, and an
incremental build publishes; the same home then gets a full build, and the two warehouses are compared
table by table, row by row (EXCEPT ALL both ways). Then what must force a full build does.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingest import incremental, validation, warehouse
from ingest.config import Paths
from tests.conftest import run_reform, table_differences

pytestmark = pytest.mark.slow


def _copy_home(source: Path, target: Path) -> Path:
    """``cp -a``: the published file and its release stay one inode (how the current release is found)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


def _reform(*args: str, home: Path) -> str:
    done = run_reform(*args, home=home)
    assert done.returncode == 0, f"reform {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stderr + done.stdout


def _arrivals(home: Path) -> None:
    """Tonight's files: a resubmission of an archived quarterly form with one figure corrected, and the
    same form from another unit's clerk with a row for an indicator that does not exist."""
    texts = [p.read_bytes().decode("utf-8-sig", errors="replace") for p in sorted((home / "archive").glob("*.csv"))]
    lines = next(
        t for t in texts if "530724-XZF" in t and t.startswith("indicator_code,value,") and "\ufffd" not in t
    ).splitlines()
    header, first = lines[0], lines[1].split(",")
    value_at = header.split(",").index("value")
    first[value_at] = str(int(float(first[value_at] or 0)) + 7)
    inbox = home / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "530724-XZF_resubmitted_v2.csv").write_text("\n".join([header, ",".join(first), *lines[2:]]) + "\n")
    bad = lines[1].split(",")
    bad[header.split(",").index("indicator_code")] = "no_such_indicator"
    (inbox / "530724-XZF_with_a_bad_row.csv").write_text("\n".join([header, ",".join(bad), *lines[2:4]]) + "\n")


def _export_inodes(exports: Path) -> dict[str, int]:
    """Each mart's export by name: the inode of its file, or of each file in its partitioned folder."""
    inodes = {p.stem: p.stat().st_ino for p in exports.glob("*.parquet")}
    for folder in (p for p in exports.iterdir() if p.is_dir()):
        inodes |= {f"{folder.name}/{f.relative_to(folder)}": f.stat().st_ino for f in folder.glob("*/*.parquet")}
        inodes[folder.name] = (folder / warehouse.PARTITION_MANIFEST).stat().st_ino
    return inodes


@pytest.fixture(scope="module")
def homes(demo_home, tmp_path_factory) -> dict[str, Path]:
    """The demo, plus tonight's files, built incrementally (``incremental``) and in full (``full``)."""
    root = tmp_path_factory.mktemp("incremental")
    home = _copy_home(demo_home, root / "incremental")
    _arrivals(home)
    _reform("ingest", "--consume", home=home)
    base = warehouse.current_release(Paths.from_env(str(home)))
    exported = _export_inodes(home / "warehouse" / "exports")
    with pytest.MonkeyPatch.context() as env:  # both builds judged at one date, even across midnight
        env.setenv("REFORM_AS_OF_DATE", datetime.now(warehouse.SHANGHAI).date().isoformat())
        out = _reform("build", "--incremental", home=home)
        assert re.search(r"incremental build: \d+ new lake file", out), out
        full = _copy_home(home, root / "full")
        _reform("build", home=full)
    return {"incremental": home, "full": full, "base": base, "exported": exported}  # type: ignore[dict-item]


def test_an_incremental_build_publishes_what_a_full_build_publishes(homes):
    with contextlib.closing(duckdb.connect()) as con:
        con.execute(f"attach '{homes['incremental'] / 'warehouse' / 'reform.duckdb'}' as a (read_only)")
        con.execute(f"attach '{homes['full'] / 'warehouse' / 'reform.duckdb'}' as b (read_only)")
        [(mode, base)] = con.execute("select mode, base_run_id from a.audit.build_info").fetchall()
        assert (mode, base) == ("incremental", homes["base"])
        [(new_versions,)] = con.execute(
            "select count(*) from a.marts.fct_indicator_observation where file_name = '530724-XZF_resubmitted_v2.csv'"
        ).fetchall()
        assert new_versions > 0, "tonight's resubmission is in the incremental warehouse"
        [(refused,)] = con.execute(
            "select count(*) from a.audit.quarantine where reason_code = 'unknown_indicator' "
            "and file_name = '530724-XZF_with_a_bad_row.csv'"
        ).fetchall()
        assert refused == 1
        tables = [
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = 'b' "
                "and schema_name in ('marts', 'audit', 'raw') and table_name not like 'validation%' "
                "and table_name not like 'build_%' order by all"
            ).fetchall()
        ]
        assert {"marts.fct_indicator_observation", "marts.fct_skill_grade_pyramid", "raw.submissions"} <= set(tables)
        differing = {table: diff for table in tables if (diff := table_differences(con, table)) != (0, 0)}
        assert differing == {}

        verdict = (
            "select suite, expectation, column_name, success, unexpected_count from {db}.audit.validation_results "
            "where run_id = (select max(run_id) from {db}.audit.validation_results) order by all"
        )
        assert con.execute(verdict.format(db="a")).fetchall() == con.execute(verdict.format(db="b")).fetchall()
        [(carried, total)] = con.execute(
            "select count(carried_from_run_id), count(*) from a.audit.validation_results "
            "where run_id = (select max(run_id) from a.audit.validation_results)"
        ).fetchall()
        assert 0 < carried < total, "suites on untouched tables carry the release's results; the rest ran"
        for history in ("audit.validation_results", "audit.validation_failures"):  # the base's + tonight's
            [(only_incremental,)] = con.execute(
                f"select count(*) from (from a.{history} except all from b.{history})"
            ).fetchall()
            later = con.execute(
                f"select distinct run_id from (from b.{history} except all from a.{history})"
            ).fetchall()
            [(full_run,)] = con.execute("select max(run_id) from b.audit.validation_results").fetchall()
            assert only_incremental == 0 and set(later) <= {(full_run,)}, (history, later)
        inputs = "select table_name, file_name, size_bytes from {db}.audit.build_inputs order by all"
        held = con.execute(inputs.format(db="a")).fetchall()
        listed = set(con.execute(inputs.format(db="b")).fetchall())  # built later: the lake holds more checks
        assert set(held) <= listed and {t for t, _, _ in listed - set(held)} == {"raw.validation_results"}
        base_release = homes["incremental"] / "warehouse" / "releases" / homes["base"] / "reform.duckdb"
        con.execute(f"attach '{base_release}' as r (read_only)")
        before = con.execute(inputs.format(db="r")).fetchall()
        assert set(before) < set(held), "the base's inventory, and tonight's files"
        assert len(held) == len(set(held)), "no lake file listed twice"


def _differing_marts(incremental: Path, full: Path) -> dict[str, tuple[int, int]]:
    with contextlib.closing(duckdb.connect()) as con:
        con.execute(f"attach '{incremental / 'warehouse' / 'reform.duckdb'}' as a (read_only)")
        con.execute(f"attach '{full / 'warehouse' / 'reform.duckdb'}' as b (read_only)")
        tables = [
            f"marts.{name}"
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'b' and schema_name = 'marts'"
            ).fetchall()
        ]
        return {table: diff for table in tables if (diff := table_differences(con, table)) != (0, 0)}


def test_a_withdrawn_figure_and_an_earlier_as_of_date_leave_no_stale_roll_up_rows(homes, tmp_path, monkeypatch):
    """A roll-up key recomputed to no rows at all loses its old rows: a figure sent, then corrected to
    不适用 (no obligation asks for it, so nothing else keeps the key), and a build judged at an earlier
    date (expected submissions no longer due). The incremental build publishes what a full one does."""
    home = _copy_home(homes["incremental"], tmp_path / "incremental")
    header = "indicator_code,value,unit,unit_code,period,indicator_name,note,filled_on"
    key = "migrant_worker_legal_service_events", "2026-Q1"
    sent = f"{header}\nmigrant_worker_legal_service_events,5,场次,530724-XZF,2026年第一季度,x,,2026-04-10\n"
    (home / "inbox" / "legal_events_q1.csv").write_text(sent, encoding="utf-8")
    _reform("ingest", "--consume", home=home)
    _reform("build", "--incremental", home=home)
    rollup = "select region_code, value from marts.fct_indicator_rollup where indicator_code = ? and period_id = ?"
    with contextlib.closing(duckdb.connect(str(home / "warehouse" / "reform.duckdb"), read_only=True)) as con:
        assert len(con.execute(rollup, key).fetchall()) == 4  # the county, its city, province, the nation

    corrected = sent.replace(",5,", ",不适用,").replace(",,2026-04-10", ",更正,2026-04-12")
    (home / "inbox" / "legal_events_q1_v2.csv").write_text(corrected, encoding="utf-8")
    _reform("ingest", "--consume", home=home)
    monkeypatch.setenv("REFORM_AS_OF_DATE", "2025-03-15")  # and judged at an earlier date
    out = _reform("build", "--incremental", home=home)
    assert "incremental build" in out, out
    full = _copy_home(home, tmp_path / "full")
    _reform("build", home=full)
    with contextlib.closing(duckdb.connect(str(home / "warehouse" / "reform.duckdb"), read_only=True)) as con:
        assert con.execute(rollup, key).fetchall() == []
    assert _differing_marts(home, full) == {}


def test_status_says_how_the_published_warehouse_was_built(homes):
    out = _reform("status", home=homes["incremental"]).splitlines()
    [built] = [line for line in out if line.startswith("built:")]
    tables = r"\(raw\.\w+ \d+(, raw\.\w+ \d+)*\)"  # how many of tonight's files each table got
    assert re.fullmatch(rf"built: incremental \(\d+ new lake file\(s\) since {homes['base']} {tables}\)", built), built
    # the last builds, newest first: the published incremental run before its base (it carries the base's
    # results forward with their earlier times, which once made it sort, and show, as old as its base)
    runs = out[out.index("last builds (validation runs):") + 3 :][:2]
    current = warehouse.current_release(Paths.from_env(str(homes["incremental"])))
    assert [line.split()[0] for line in runs] == [current, homes["base"]], runs
    assert [line.split()[-1] for line in runs] == ["yes", "yes"], runs  # a build killed before its publish: "no"


def test_an_incremental_build_starts_from_its_base_releases_dbt_parse(homes, tmp_path):
    """A release keeps dbt's parse of the project; a build seeded with it parses only what changed
    (dbt opens the build by its name in the build's folder: the profile it hashes is the same every night)."""
    paths = Paths.from_env(str(homes["incremental"]))
    release = paths.releases / warehouse.current_release(paths)
    assert (release / warehouse.DBT_PARSE_FILE).stat().st_size > 100_000
    build = tmp_path / "tonight" / "reform.duckdb"
    (build.parent / "target").mkdir(parents=True)
    shutil.copyfile(paths.published, build)
    shutil.copyfile(release / warehouse.DBT_PARSE_FILE, build.parent / "target" / warehouse.DBT_PARSE_FILE)
    warehouse.run_dbt(build, ["ls", "--select", "dim_region"])
    log = (build.parent / "dbt.log").read_text()
    assert "full parse" not in log and "Unable to do partial parsing" not in log, log
    assert "dim_region" in log


def test_an_incremental_build_rebuilds_only_what_new_rows_reach_and_exports_every_mart(homes):
    paths = Paths.from_env(str(homes["incremental"]))
    run_id = warehouse.current_release(paths)
    with contextlib.closing(duckdb.connect(str(paths.published), read_only=True)) as con:
        marts = {
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
    exports = paths.warehouse_dir / "exports"
    assert {p.name.removesuffix(".parquet") for p in exports.iterdir() if not p.name.startswith(".")} == marts
    assert warehouse.exports_release(exports) == run_id, "the exports say which release they are"
    assert not (paths.builds / run_id).exists(), "the build folder is cleaned up"
    models, relations = incremental.downstream({"raw.submissions", "raw.ingest_files", "raw.quarantine"})
    rebuilt = {"fct_indicator_observation", "fct_reporting_completeness", "fct_target_progress", "rpt_region_scorecard"}
    untouched = {"fct_skill_grade_pyramid", "fct_survey_estimate", "dim_region"}
    assert rebuilt <= set(models) and {f"marts.{m}" for m in rebuilt} <= relations
    assert not untouched & set(models)
    # the key tests of the rebuilt marts are left to their GX key suites, which ran on this build
    skipped = incremental.key_tests(models, incremental.project_manifest())
    assert {"unique_fct_indicator_observation_observation_id", "unique_fct_target_progress_target_id"} <= set(skipped)
    with contextlib.closing(duckdb.connect(str(paths.published), read_only=True)) as con:
        ran = con.execute(
            "select suite from audit.validation_results where run_id = ? and carried_from_run_id is null "
            "and expectation = 'expect_column_values_to_be_unique' and success",
            [run_id],
        ).fetchall()
    assert {f"{m}_keys" for m in rebuilt} <= {suite for (suite,) in ran}
    inodes = _export_inodes(exports)
    assert {m for m in untouched if inodes[m] == homes["exported"][m]} == untouched, "the release's exports, linked"
    assert {m for m in rebuilt if inodes[m] != homes["exported"][m]} == rebuilt, "exported anew"
    # the observation export is partitioned by period: tonight's periods written, the others linked
    periods = {k: v for k, v in inodes.items() if k.startswith("fct_indicator_observation/")}
    linked = {k for k, v in periods.items() if homes["exported"].get(k) == v}
    assert 0 < len(linked) < len(periods), (len(linked), len(periods))
    with contextlib.closing(duckdb.connect(str(paths.published), read_only=True)) as con:
        published = con.execute("select count(*), sum(hash(t)) from marts.fct_indicator_observation t").fetchall()
    files = f"read_parquet('{exports}/fct_indicator_observation/*/*.parquet', hive_partitioning = false)"
    assert duckdb.sql(f"select count(*), sum(hash(t)) from {files} t").fetchall() == published
    # the current view follows its table's partitions: linked where the table's were, the rest written
    current = {k: v for k, v in inodes.items() if k.startswith("fct_indicator_observation_current/")}
    linked_current = {k.split("/", 1)[1] for k, v in current.items() if homes["exported"].get(k) == v}
    assert 0 < len(linked_current) < len(current)
    assert linked_current <= {k.split("/", 1)[1] for k in linked}, "a view partition linked where its table's was"
    with contextlib.closing(duckdb.connect(str(paths.published), read_only=True)) as con:
        view = con.execute("select count(*), sum(hash(t)) from marts.fct_indicator_observation_current t").fetchall()
    files = f"read_parquet('{exports}/fct_indicator_observation_current/*/*.parquet', hive_partitioning = false)"
    assert duckdb.sql(f"select count(*), sum(hash(t)) from {files} t").fetchall() == view


def _touched_night(homes, tmp_path):
    """The suites validated by group, a copy of the incremental warehouse as tonight's build (scratch
    files go beside it: not in the home), the base release and its verdict on those suites."""
    paths = Paths.from_env(str(homes["incremental"]))
    local = [s for s in validation.SUITES if s.local_to]
    build = tmp_path / "build" / "reform.duckdb"
    build.parent.mkdir()
    shutil.copyfile(paths.published, build)
    base = paths.releases / homes["base"] / "reform.duckdb"
    base_results, base_failures = warehouse._base_verdict(paths, homes["base"], {s.name for s in local})
    return local, build, base, base_results, base_failures


def _failing_rows(records):
    return sorted((r["suite"], r["rule"], r["row_values"]) for r in records)


@pytest.mark.parametrize("base_counted_by", ["failing rows", "gx"])
def test_the_groups_tonight_touched_give_the_whole_tables_verdict(homes, tmp_path, monkeypatch, base_counted_by):
    """validate_touched (the observation and raw submission suites of an incremental build) finds what
    validating the whole tables finds: the same counts and the same failing rows; whether the base's
    part is counted from its failing rows or (a rule that cannot be) by GX on the base's groups."""
    if base_counted_by == "gx":
        monkeypatch.setattr(validation, "COUNTED_AS_ROWS", frozenset())
    local, build, base, base_results, base_failures = _touched_night(homes, tmp_path)
    assert {s.name for s in local} >= {"fct_indicator_observation", "raw_submissions"}

    results, failures = validation.validate_touched(
        build, base, "t", local, base_results, base_failures, tmp_path / "gx"
    )
    whole = validation.validate_warehouse(build, "t", suites=local, results_dir=tmp_path / "gx-whole")
    whole_failures = validation.collect_failures(build, "t", whole, local)

    def verdict(records):
        return sorted(
            (r["suite"], r["description"], r["success"], r["unexpected_count"], r["element_count"]) for r in records
        )

    assert verdict(results) == verdict(whole)
    found = {r["description"]: r["unexpected_count"] for r in whole}
    assert found[validation.RESUBMISSION_RULE] > 0, "tonight's resubmission repeats figures: the merge is exercised"
    with contextlib.closing(duckdb.connect(str(build), read_only=True)) as con:
        [(touched, total)] = con.execute(
            "select (select count(*) from marts.fct_indicator_observation semi join (select reporting_unit_code, "
            "region_code from raw.submissions semi join audit.build_added_files using (file_sha256)) as t "
            "using (reporting_unit_code, region_code)), (select count(*) from marts.fct_indicator_observation)"
        ).fetchall()
    assert 0 < touched < total / 5, "the touched groups are a small part of the table"
    assert _failing_rows(failures) == _failing_rows(whole_failures)


@pytest.mark.parametrize("base_kept", ["every row", "the first rows"])
def test_a_rule_failing_on_more_rows_than_are_kept_keeps_what_a_whole_validation_keeps(
    homes, tmp_path, monkeypatch, base_kept
):
    """A rule failing on more rows than are kept (MAX_FAILING_ROWS_PER_RULE, lowered here): the touched
    groups' validation keeps as many, the same rows as validating the whole table, whether the base kept
    all its failing rows or only its first (without the cut: the base's outside the groups plus
    tonight's inside, more than the cap, and more each night)."""
    local, build, base, base_results, base_failures = _touched_night(homes, tmp_path)
    whole = validation.validate_warehouse(build, "t", suites=local, results_dir=tmp_path / "gx-whole")
    [most] = [r["unexpected_count"] for r in whole if r["description"] == validation.RESUBMISSION_RULE]
    cap = most // 3
    assert cap >= 2, f"the demo's resubmissions repeat figures on {most} rows"
    monkeypatch.setattr(validation, "MAX_FAILING_ROWS_PER_RULE", cap)
    whole_failures = validation.collect_failures(build, "t", whole, local)
    if base_kept == "the first rows":  # as the base's validation would have kept them under this cap
        base_failures = validation.collect_failures(base, homes["base"], base_results, local)

    _, failures = validation.validate_touched(build, base, "t", local, base_results, base_failures, tmp_path / "gx")

    kept = Counter(f["rule"] for f in failures)
    assert kept == {r["description"]: min(cap, r["unexpected_count"]) for r in whole if not r["success"]}
    assert _failing_rows(failures) == _failing_rows(whole_failures)


@pytest.mark.parametrize("kept", ["all", "some"])
def test_the_base_counts_without_gx_are_what_gx_finds_in_the_base(homes, tmp_path, kept):
    """counted_in_base gives, rule by rule, what the GX checkpoints find in the base's rows of tonight's
    groups: from the base's failing rows when it kept them all, else (``some``: a rule with more
    failing rows than are kept) by the rule's SQL form on the base file."""
    local, build, base, base_results, base_failures = _touched_night(homes, tmp_path)
    touched, _ = validation.touched_scratch(build, local)
    # tonight's groups and those of the base's failing rows: groups where rules fail
    columns = local[0].local_to
    failing = [json.loads(str(f["row_values"])) for f in base_failures]
    rows = set(zip(*(touched.column(c).to_pylist() for c in columns), strict=True))
    rows |= {tuple(r[c] for c in columns) for r in failing}
    groups = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in sorted(rows)], schema=touched.schema)
    if kept == "some":  # every rule keeps only its first failing row
        firsts: dict[tuple[object, object], dict[str, object]] = {}
        for failure in base_failures:
            firsts.setdefault((failure["suite"], failure["rule"]), failure)
        shortened = {rule for rule in firsts if sum((f["suite"], f["rule"]) == rule for f in base_failures) > 1}
        assert shortened, "a rule loses failing rows: its SQL form counts them"
        base_failures = list(firsts.values())

    counted = validation.counted_in_base(base, local, groups, base_results, base_failures)
    validation._scratch_of_groups(base, tmp_path / "base.duckdb", local, groups)
    by_gx = validation.validate_warehouse(tmp_path / "base.duckdb", "t", suites=local, results_dir=tmp_path / "gx")
    assert counted == {
        validation._result_key(r): {"unexpected_count": r["unexpected_count"], "element_count": r["element_count"]}
        for r in by_gx
    }
    assert sum(c["unexpected_count"] for c in counted.values()) > 0, "some rule fails in the base's groups"
    if kept == "some":  # counted by the SQL form: more than the one failing row kept
        assert any(c["unexpected_count"] > 1 for key, c in counted.items() if (key[0], key[3]) in shortened)
    assert validation.counted_in_base(base, local, groups, [], base_failures) is None, "no base count: GX"


def test_what_must_force_a_full_build_does(homes, tmp_path):
    home = _copy_home(homes["incremental"], tmp_path / "home")
    paths = Paths.from_env(str(home))
    files = incremental.inventory(paths.lake)

    plan = incremental.plan_build(paths, files)
    assert plan.mode == "incremental" and set(plan.new_files) == {"raw.validation_results"}, "only its own checks"
    assert "fct_target_progress" in plan.models, "the build date moves the as-of models every night"

    assert incremental.plan_build(paths, files, {"as_of_date": "2026-01-01"}).mode == "full", "other dbt vars"

    # the first unit register: its obligations reach completeness without any form (a differential
    # campaign found them missing from fct_reporting_completeness after an incremental build)
    register = tmp_path / "register"
    register.mkdir()
    (register / "reporting_units.csv").write_text(
        "unit_code,name_zh,name_en,kind,region_code\n530100-RSJ,昆明市人社局,Kunming HRSS,government,530100\n"
    )
    (register / "reporting_obligations.csv").write_text(
        "unit_code,indicator_code,periodicity,first_year,last_year,due_days_after_period_end\n"
        "530100-RSJ,skill_talents_total,annual,2024,2026,60\n"
    )
    _reform("register", str(register), home=home)
    plan = incremental.plan_build(paths, incremental.inventory(paths.lake))
    assert plan.mode == "full" and "a unit register was loaded" in plan.reason

    _reform("reprocess", "--from", "2023Q1", "--to", "2023Q1", home=home)
    plan = incremental.plan_build(paths, incremental.inventory(paths.lake))
    assert plan.mode == "full" and "changed or were removed" in plan.reason

    out = _reform("build", "--incremental", home=home)
    assert "full build:" in out and "changed or were removed" in out

    paths.published.unlink()
    plan = incremental.plan_build(paths, incremental.inventory(paths.lake))
    assert plan.mode == "full" and "no published release" in plan.reason


def test_an_incremental_dbt_build_leaves_out_only_the_key_tests_gx_runs(homes, tmp_path):
    """Tonight, with no new form: the as-of models are rebuilt with their tests, but for the tests of
    their marts' keys (GX's key suites check those before publishing)."""
    home = _copy_home(homes["incremental"], tmp_path / "home")
    paths = Paths.from_env(str(home))
    build, _ = warehouse.prepare(paths, "tonight", incremental=True)
    plan = incremental.Plan.read(build.parent)
    assert plan.incremental and "fct_target_progress" in plan.models
    assert "unique_fct_target_progress_target_id" in plan.skipped_tests
    warehouse.build_models(build)
    ran = json.loads((build.parent / "target" / "run_results.json").read_text())["results"]
    tests = {r["unique_id"].split(".")[2] for r in ran if r["unique_id"].startswith("test.")}
    assert not tests & set(plan.skipped_tests)
    assert {"relationships_fct_target_progress_target_id__target_id__ref_fct_target_"} <= tests, "the others run"
    assert all(r["status"] in ("success", "pass") for r in ran)


def test_key_tests_are_the_unique_and_not_null_tests_of_a_rebuilt_marts_key():
    def model(name: str, folder: str, key=(), one_column_key: str | None = None):
        node = {"resource_type": "model", "name": name, "original_file_path": f"models/{folder}/{name}.sql"}
        node["constraints"] = [{"type": "primary_key", "columns": list(key)}] if key else []
        node["columns"] = {
            c: {"name": c, "constraints": [{"type": "primary_key"}] if c == one_column_key else []}
            for c in ("id", "region", "period", "value")
        }
        return node

    def test(kind: str, model_name: str, column: str):
        name = f"{kind}_{model_name}_{column}"
        return f"test.reform.{name}", {
            "resource_type": "test",
            "name": name,
            "test_metadata": {"name": kind},
            "attached_node": f"model.reform.{model_name}",
            "column_name": column,
        }

    nodes = {
        "model.reform.fct_obs": model("fct_obs", "marts", one_column_key="id"),
        "model.reform.fct_cell": model("fct_cell", "marts", key=("region", "period")),
        "model.reform.stg_obs": model("stg_obs", "staging", one_column_key="id"),
        "model.reform.fct_other": model("fct_other", "marts", one_column_key="id"),
    }
    nodes |= dict(
        [
            test("unique", "fct_obs", "id"),  # the key: GX checks it
            test("not_null", "fct_obs", "id"),
            test("not_null", "fct_obs", "value"),  # not the key
            test("unique", "fct_cell", "region"),  # one column of a compound key: another rule
            test("not_null", "fct_cell", "period"),  # a column of the key: GX checks it
            test("accepted_values", "fct_cell", "period"),
            test("unique", "stg_obs", "id"),  # not a mart: no GX key suite
            test("unique", "fct_other", "id"),  # a mart not rebuilt tonight
        ]
    )
    skipped = incremental.key_tests(["fct_obs", "fct_cell", "stg_obs"], {"nodes": nodes})
    assert skipped == ["not_null_fct_cell_period", "not_null_fct_obs_id", "unique_fct_obs_id"]
    assert incremental.key_tests([], {"nodes": nodes}) == []


def test_downstream_follows_sources_and_the_build_date_and_skips_ephemeral_relations():
    def model(name: str, schema: str = "marts", materialized: str = "table", macros=()):
        return {
            "resource_type": "model",
            "name": name,
            "schema": schema,
            "config": {"materialized": materialized},
            "depends_on": {"macros": list(macros)},
        }

    manifest = {
        "sources": {
            "source.reform.lake.submissions": {"schema": "raw", "name": "submissions"},
            "source.reform.microdata.workers": {"schema": "raw", "name": "workers"},
        },
        "nodes": {
            "model.reform.stg_submissions": model("stg_submissions", "staging", "view"),
            "model.reform.int_versions": model("int_versions", "staging", "ephemeral"),
            "model.reform.fct_observation": model("fct_observation"),
            "model.reform.stg_workers": model("stg_workers", "staging", "view"),
            "model.reform.fct_pyramid": model("fct_pyramid"),
            "model.reform.fct_progress": model("fct_progress", macros=[incremental.AS_OF_MACRO]),
            "model.reform.rpt_scorecard": model("rpt_scorecard"),
            "test.reform.not_null_fct_observation": {"resource_type": "test", "name": "not_null"},
        },
        "child_map": {
            "source.reform.lake.submissions": ["model.reform.stg_submissions"],
            "model.reform.stg_submissions": ["model.reform.int_versions"],
            "model.reform.int_versions": ["model.reform.fct_observation"],
            "model.reform.fct_observation": ["test.reform.not_null_fct_observation"],
            "source.reform.microdata.workers": ["model.reform.stg_workers"],
            "model.reform.stg_workers": ["model.reform.fct_pyramid"],
            "model.reform.fct_progress": ["model.reform.rpt_scorecard"],
        },
    }
    models, relations = incremental.downstream({"raw.submissions"}, manifest)
    assert models == ["fct_observation", "fct_progress", "int_versions", "rpt_scorecard", "stg_submissions"]
    assert relations == {
        "staging.stg_submissions",
        "marts.fct_observation",
        "marts.fct_progress",
        "marts.rpt_scorecard",
    }
    models, _ = incremental.downstream(set(), manifest)
    assert models == ["fct_progress", "rpt_scorecard"], "nothing new: the models that read the build date"
    # a model that reads the build date only through another macro is rebuilt too
    manifest["macros"] = {
        "macro.reform.reform_monitoring_fell_due": {"depends_on": {"macros": [incremental.AS_OF_MACRO]}},
        "macro.reform.fell_due_twice_removed": {"depends_on": {"macros": ["macro.reform.reform_monitoring_fell_due"]}},
    }
    manifest["nodes"]["model.reform.fct_pyramid"]["depends_on"]["macros"] = ["macro.reform.fell_due_twice_removed"]
    models, _ = incremental.downstream(set(), manifest)
    assert models == ["fct_progress", "fct_pyramid", "rpt_scorecard"]
