"""The unit register (``reform register``) and the benchmark's portal data (ingest/generate_portal.py)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest import lake
from ingest.config import Paths
from ingest.generate import _period_labels
from ingest.generate_portal import SCALES, generate_portal, months, register_units
from ingest.intake import ingest_file
from ingest.reference import (
    OBLIGATION_COLUMNS,
    UNIT_COLUMNS,
    RegisterError,
    load_reference,
    read_register,
    read_seed,
    register,
)
from tests.conftest import run_reform


def _write(folder: Path, units: list[list[object]], obligations: list[list[object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, header, rows in (
        ("reporting_units.csv", UNIT_COLUMNS, units),
        ("reporting_obligations.csv", OBLIGATION_COLUMNS, obligations),
    ):
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    return folder


GOOD_UNIT = ["530702-P001", "古城区监测点1", "Gucheng point 1", "other", "530702"]
GOOD_OBLIGATION = ["530702-P001", "enterprise_unions", "month", 2024, 2025, 15]


def test_a_register_is_checked_archived_and_read_by_ingest(tmp_path):
    paths = Paths.from_env(tmp_path / "home")
    folder = _write(tmp_path / "reg", [GOOD_UNIT], [GOOD_OBLIGATION])
    assert "530702-P001" not in load_reference(lake=paths.lake).units

    assert register(folder, paths) == (1, 1, False)  # the first register replaces none

    units = pq.read_table(paths.lake / "register/reporting_units/register.parquet").to_pylist()
    assert [(u["unit_code"], u["region_code"]) for u in units] == [("530702-P001", "530702")]
    obligations = pq.read_table(paths.lake / "register/reporting_obligations/register.parquet").to_pylist()
    assert obligations[0]["region_code"] == "530702" and obligations[0]["first_year"] == 2024
    sha = units[0]["registered_from"]
    both = (folder / "reporting_units.csv").read_bytes() + (folder / "reporting_obligations.csv").read_bytes()
    assert sha == hashlib.sha256(both).hexdigest()
    assert (paths.archive / f"{sha}-register-units.csv").read_bytes() == (folder / "reporting_units.csv").read_bytes()
    assert load_reference(lake=paths.lake).units["530702-P001"] == "530702"

    # a form of the registered unit is accepted; before registering it was quarantined as unknown_unit
    form = tmp_path / "530702-P001_2025-M01.csv"
    form.write_text("单位代码,报告期,指标代码,数值\n530702-P001,2025年1月,enterprise_unions,120\n", encoding="utf-8")
    outcome = ingest_file(form, paths)
    assert (outcome.rows_accepted, outcome.rows_quarantined) == (1, 0)

    # a new registration replaces the snapshot whole
    second = ["530702-P002", "古城区监测点2", "Gucheng point 2", "other", "530702"]
    assert register(_write(tmp_path / "reg2", [second], []), paths) == (1, 0, True)
    assert set(load_reference(lake=paths.lake).units) >= {"530702-P002"}
    assert "530702-P001" not in load_reference(lake=paths.lake).units


def test_a_register_archive_copy_killed_midway_is_never_taken_for_the_whole_file(tmp_path, monkeypatch):
    """Found by a crash campaign: the copy went straight to its final name, and a re-run, finding the
    name, kept the truncated copy for good."""
    import shutil

    paths = Paths.from_env(tmp_path / "home")
    folder = _write(tmp_path / "reg", [GOOD_UNIT], [GOOD_OBLIGATION])
    real = shutil.copyfile

    def killed_halfway(source, target, *args, **kwargs):
        Path(target).write_bytes(Path(source).read_bytes()[:10])
        raise SystemExit("killed")

    monkeypatch.setattr(shutil, "copyfile", killed_halfway)
    with pytest.raises(SystemExit):
        register(folder, paths)
    monkeypatch.setattr(shutil, "copyfile", real)
    assert not list(paths.archive.glob("*-register-*.csv"))  # nothing under the final name
    register(folder, paths)
    [units] = paths.archive.glob("*-register-units.csv")
    assert units.read_bytes() == (folder / "reporting_units.csv").read_bytes()


@pytest.mark.parametrize("first", [True, False], ids=["the first register", "a replacing register"])
def test_a_register_killed_between_its_two_tables_is_written_again_before_a_build(tmp_path, monkeypatch, first):
    """Found by a crash campaign (SIGKILL): killed after the units and before the obligations, a
    replacing register left new units beside old obligations, and every build failed on them with an
    error that did not name the register; a killed first register was then re-run as "replacing"."""
    from ingest import warehouse

    paths = Paths.from_env(tmp_path / "home")
    if not first:
        register(_write(tmp_path / "old", [GOOD_UNIT], [GOOD_OBLIGATION]), paths)
    second = ["530702-P002", "古城区监测点2", "Gucheng point 2", "other", "530702"]
    folder = _write(tmp_path / "new", [second], [["530702-P002", *GOOD_OBLIGATION[1:]]])
    real = lake.write_records

    def killed_before_the_obligations(path, *args, **kwargs):
        if path.parent.name == "reporting_obligations":
            raise SystemExit("killed")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(lake, "write_records", killed_before_the_obligations)
    with pytest.raises(SystemExit):
        register(folder, paths)
    monkeypatch.undo()
    sha = lake.interrupted_register(paths.lake)
    assert sha is not None

    def snapshot(part: str) -> list[tuple[str, str]]:
        path = lake.register_snapshot(paths.lake, part)
        return (
            [(r["unit_code"], r["registered_from"]) for r in pq.read_table(path).to_pylist()] if path.exists() else []
        )

    assert snapshot("units") == [("530702-P002", sha)]
    assert snapshot("obligations") == ([] if first else [("530702-P001", snapshot("obligations")[0][1])])
    # run again by hand, it says what it does: a first register replaces none
    if first:
        assert register(folder, paths) == (1, 1, False)
    else:  # or the build writes it again, from the archived files, before it reads the lake
        warehouse.prepare(paths, "after-a-killed-register")
    assert lake.interrupted_register(paths.lake) is None
    assert snapshot("units") == [("530702-P002", sha)] and snapshot("obligations") == [("530702-P002", sha)]


@pytest.mark.parametrize(
    ("units", "obligations", "message"),
    [
        ([["530700-ZGH", "市总工会", "", "trade_union", "530700"]], [], "is a unit the documents name"),
        ([GOOD_UNIT, GOOD_UNIT], [], "appears twice"),
        ([[*GOOD_UNIT[:4], "539999"]], [], "is not a current region code"),
        ([GOOD_UNIT], [["530702-P009", *GOOD_OBLIGATION[1:]]], "is not in reporting_units.csv"),
        ([GOOD_UNIT], [[GOOD_OBLIGATION[0], "no_such", *GOOD_OBLIGATION[2:]]], "is not in the catalog"),
        ([GOOD_UNIT], [[*GOOD_OBLIGATION[:2], "weekly", *GOOD_OBLIGATION[3:]]], "is not one of annual"),
        ([GOOD_UNIT], [GOOD_OBLIGATION, GOOD_OBLIGATION], "twice"),
        ([GOOD_UNIT], [[*GOOD_OBLIGATION[:3], 2025, 2024, 15]], "first_year ≤ last_year"),
        ([GOOD_UNIT], [[*GOOD_OBLIGATION[:3], "2024年", 2025, 15]], "must be whole numbers"),
    ],
)
def test_a_bad_register_is_refused_whole_with_the_row(tmp_path, units, obligations, message):
    paths = Paths.from_env(tmp_path / "home")
    with pytest.raises(RegisterError, match=message) as refused:
        register(_write(tmp_path / "reg", units, obligations), paths)
    assert "row " in str(refused.value) and "nothing was registered" in str(refused.value)
    assert not (paths.lake / "register").exists()


def test_a_register_without_its_files_or_columns_says_what_is_missing(tmp_path):
    with pytest.raises(RegisterError, match=r"reg is not a folder: give the folder that holds reporting_units\.csv"):
        read_register(tmp_path / "reg")
    with pytest.raises(RegisterError, match=r"reporting_obligations\.csv is missing"):
        (tmp_path / "reg").mkdir()
        (tmp_path / "reg" / "reporting_units.csv").write_text(",".join(UNIT_COLUMNS) + "\n", encoding="utf-8")
        read_register(tmp_path / "reg")
    (tmp_path / "reg" / "reporting_obligations.csv").write_text("unit_code,indicator_code\n", encoding="utf-8")
    with pytest.raises(RegisterError, match=r"lacks the column.*periodicity"):
        read_register(tmp_path / "reg")


def test_the_register_command_reports_mistakes_with_exit_code_2(tmp_path):
    folder = _write(tmp_path / "reg", [[*GOOD_UNIT[:4], "539999"]], [])
    result = run_reform("register", str(folder), home=tmp_path / "home")
    assert result.returncode == 2 and "539999" in result.stdout


def test_the_portal_generator_is_deterministic_and_follows_its_scale(tmp_path):
    first = generate_portal(tmp_path / "a", "small", seed=7)
    second = generate_portal(tmp_path / "b", "small", seed=7)
    assert [p.name for p in first["forms"]] == [p.name for p in second["forms"]]
    for a, b in zip(first["forms"][:50] + first["register"], second["forms"][:50] + second["register"], strict=True):
        assert a.read_bytes() == b.read_bytes()
    scale = SCALES["small"]
    units = register_units(scale.units)
    assert len({u["unit_code"] for u in units}) == scale.units
    assert all(u["region_code"].startswith("53") for u in units)
    periodic = sum(len(_period_labels(p, (2025,))) for p in ("annual", "half_year", "quarter"))
    expected = scale.units * (scale.months + periodic)  # monthly returns and the obligations' forms
    resubmissions = [p for p in first["forms"] if p.stem.endswith("_v2")]
    sent = len(first["forms"]) - len(resubmissions)
    assert 0.9 * expected <= sent < expected  # a few forms are never sent
    obligations = list(csv.DictReader(first["register"][0].open(encoding="utf-8")))
    catalog = {r["indicator_code"]: r["periodicity"] for r in read_seed("indicators")}
    assert len(obligations) == scale.units * len(catalog)
    assert all(o["periodicity"] == catalog[o["indicator_code"]] for o in obligations)
    assert [label for _, label in months(3)] == ["2025年10月", "2025年11月", "2025年12月"]
    rows = [r for p in first["forms"] for r in csv.DictReader(p.open(encoding="utf-8"))]
    values = [r["数值"] for r in rows]
    assert any(v in ("*", "(略)", "—") for v in values) and any("," in v for v in values)
    assert any(r["指标代码"] == "no_such_indicator" for r in rows)


def test_portal_data_goes_through_the_pipeline_with_the_register(tmp_path):
    """Every registered unit's form lands: nothing is quarantined as an unknown unit."""
    home = tmp_path / "home"
    generate_portal(tmp_path / "gen", "small")
    assert run_reform("register", str(tmp_path / "gen" / "register"), home=home).returncode == 0
    forms = sorted((tmp_path / "gen" / "inbox").glob("*.csv"))[:40]
    result = run_reform("ingest", "--historical", *map(str, forms), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    quarantine = lake.LAKE_TABLES["raw.quarantine"][0]
    reasons = {
        r["reason_code"] for f in (home / "lake" / quarantine).glob("*.parquet") for r in pq.read_table(f).to_pylist()
    }
    assert "unknown_unit" not in reasons
    assert reasons <= {"unknown_indicator", "not_a_number"}, reasons


def test_a_parallel_ingest_says_where_its_time_went_per_source(tmp_path):
    """``reform ingest --jobs 2 --json``: per source (forms, each microdata kind) the files, the rows the
    audit records hold for it, and the time its files took in the workers; as a table and as JSON."""
    home = tmp_path / "home"
    made = run_reform(
        "generate", "--scale", "small", "--portal", "--microdata", "--out", str(tmp_path / "gen"), home=home
    )
    assert made.returncode == 0, made.stderr
    assert run_reform("register", str(tmp_path / "gen" / "register"), home=home).returncode == 0
    result = run_reform("ingest", "--jobs", "2", "--json", str(tmp_path / "gen" / "inbox"), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])["ingest"]
    sources = summary["by_source"]

    records = [
        r for f in (home / "lake" / "audit" / "ingest_files").glob("*.parquet") for r in pq.read_table(f).to_pylist()
    ]
    expected: dict[str, list[int]] = {}
    for record in records:
        files_rows = expected.setdefault(record["source"], [0, 0])
        files_rows[0] += 1
        files_rows[1] += record["rows_received"]
    assert {s: [e["files"], e["rows"]] for s, e in sources.items()} == expected
    assert {"submissions", "workers", "trainings", "certifications", "enterprises"} <= set(sources)
    assert all(e["seconds"] > 0 and e["cpu_microseconds_per_row"] > 0 for e in sources.values())
    assert summary["files"] == len(records) and summary["jobs"] == 2
    table = result.stdout[result.stdout.index("by source") :]
    assert all(f"\n{source} " in table for source in sources)
    assert "\nworkers by step: scan " in table and " s, write " in table  # where a roster's load spent its time


def test_a_build_waits_for_a_register_being_written_and_never_writes_it_again(tmp_path, monkeypatch):
    """Found by a concurrency campaign: a build that started while `reform register` wrote its two
    tables took the live register for one whose write was killed, wrote it again itself and removed
    its marker; the register then failed. The register's lock tells a live write from a killed one."""
    import threading

    from ingest import intake

    paths = Paths.from_env(tmp_path / "home").ensure()
    folder = _write(tmp_path / "reg", [GOOD_UNIT], [GOOD_OBLIGATION])
    real_write = lake.write_records
    between, go_on = threading.Event(), threading.Event()

    def slow_second_table(path, *args, **kwargs):
        if "reporting_obligations" in str(path):  # the units are in, the obligations not yet
            between.set()
            assert go_on.wait(60)
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(lake, "write_records", slow_second_table)
    registered: list[object] = []
    writer = threading.Thread(target=lambda: registered.append(register(folder, paths)))
    writer.start()
    assert between.wait(60)
    rewritten: list[str] = []
    monkeypatch.setattr("ingest.reference.register", lambda *args, **kwargs: rewritten.append("again"))
    build = threading.Thread(target=lambda: intake.finish_interrupted_writes(paths))  # a build's first step
    build.start()
    build.join(1.0)
    assert build.is_alive(), "the build waits for the register being written"
    go_on.set()
    writer.join(60)
    build.join(60)
    assert registered == [(1, 1, False)] and rewritten == []
    assert lake.interrupted_register(paths.lake) is None
