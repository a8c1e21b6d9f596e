"""The benchmark's three implementations of the core marts agree (issue #8), and the check can fail.

One small portal dataset is generated and run through the pipeline with the CLI, as the benchmark
does; the floor (bench/floor.sql) and the pandas peer (bench/pandas_peer.py) then read the same files.
Before ingest, a few worker records are added that the "one record per worker and year" rule has to
decide (the same person in both parts of the records, twice in one file, a repeated key with another
grade, another reference year): at small scale random ID numbers never collide, at province scale
thousands do.

The portal's forms are monthly and no indicator's catalog periodicity is: no portal figure reaches the
roll-up, so on portal data every target is `no_data` (or `target_masked`). The assessment logic is
therefore checked a second time on the demo's submissions (annual, half-year and quarterly forms),
rewritten in the portal's layout, with a pipeline built as of 2024-05-20 (on track, at risk, off track,
achieved, masked, not met).
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from bench.compare import CORE_MARTS, attach_pipeline, compare, pipeline_dates, register_pandas
from bench.floor import run_floor
from bench.pandas_peer import run_pandas
from ingest import warehouse
from ingest.config import SEEDS_DIR, Paths
from ingest.generate_microdata import credit_code, load_world, person
from ingest.intake import make_pseudonymiser
from tests.conftest import run_reform

pytestmark = pytest.mark.slow


def _reform(*args: str, home: Path) -> None:
    done = run_reform(*args, home=home, timeout=600)
    assert done.returncode == 0, f"reform {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _append_rows(path: Path, rows: list[list[str]], encoding: str) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    with path.open("ab") as handle:
        handle.write(buffer.getvalue().encode(encoding))


def add_worker_collisions(workers_dir: Path) -> dict[str, set[tuple[int, str, str]]]:
    """Valid records of four people, each a case the deduplication decides (see the module docstring).
    Returns what the pipeline must keep: ID number → {(year, region, grade)}."""
    rng = random.Random(8)
    world = load_world()
    region = [r for r in world.regions if r.startswith("53")]

    def record(id_number: str, employer: str, where: str, grade: str, year: str = "2025") -> list[str]:
        return ["测试", id_number, "男", employer, where, "33", grade, "农民工", "是", "13800000000", year, "", ""]

    (_, a), (_, b), (_, c), (_, d) = (person(rng, world) for _ in range(4))
    e1, e2 = credit_code(rng, world), credit_code(rng, world)
    part1 = [
        record(a, e1, region[0], "初级工"),  # superseded by part 2 (the later file)
        record(d, e1, region[2], "技师", "2024"),  # another reference year: both count
    ]
    part2 = [
        record(a, e2, region[1], "高级工"),
        record(b, e1, region[3], "中级工"),  # superseded by the later row of the same file
        record(c, e1, region[4], "学徒工"),
        record(c, e1, region[5], "首席技师"),  # same worker, employer and year: a duplicate row, refused
        record(b, e2, region[6], "高级技师"),
        record(d, e2, region[2], "技师", "2025年"),
    ]
    _append_rows(workers_dir / "workers_2025_part1.csv", part1, "gb18030")
    _append_rows(workers_dir / "workers_2025_part2.csv", part2, "utf-8")
    return {
        a: {(2025, region[1], "senior")},
        b: {(2025, region[6], "senior_technician")},
        c: {(2025, region[4], "apprentice")},
        d: {(2024, region[2], "technician"), (2025, region[2], "technician")},
    }


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    home, data = root / "home", root / "gen"
    _reform("generate", "--portal", "--scale", "small", "--out", str(data), home=home)
    kept = add_worker_collisions(data / "inbox" / "microdata" / "workers")
    _reform("register", str(data / "register"), home=home)
    _reform("ingest", "--historical", str(data / "inbox"), home=home)
    _reform("build", home=home)

    con = duckdb.connect()
    attach_pipeline(con, home / "warehouse" / "reform.duckdb")
    as_of, received_on = pipeline_dates(con)
    counts = run_floor(con, data, SEEDS_DIR, as_of=as_of, received_on=received_on, scratch_dir=root)
    frames = run_pandas(data, SEEDS_DIR, as_of=as_of, received_on=received_on)
    register_pandas(con, frames)
    yield SimpleNamespace(con=con, frames=frames, counts=counts, data=data, kept=kept)
    con.close()


def test_floor_and_pandas_agree_with_the_pipeline(bench):
    assert compare(bench.con) == []


def test_the_data_exercise_the_rules(bench):
    """The agreement means something: the marts hold the cases the rules are about."""
    one = lambda sql: bench.con.execute(sql).fetchall()[0]  # noqa: E731
    masked, not_applicable, resubmitted = one(
        "select count(*) filter (where obs_status = 'masked'), count(*) filter (where obs_status = 'not_applicable'),"
        " count(*) filter (where version > 1) from pipeline.marts.fct_indicator_observation_current"
    )
    assert masked and not_applicable and resubmitted
    missing, late = one(
        "select count(*) filter (where not is_submitted), count(*) filter (where is_submitted and not is_on_time)"
        " from pipeline.marts.fct_reporting_completeness"
    )
    assert missing and late
    refused = dict(
        bench.con.execute("select reason_code, count(*) from pipeline.audit.quarantine group by all").fetchall()
    )
    assert refused.get("unknown_indicator") and refused.get("bad_id_number") and refused.get("duplicate_row")
    suppressed, years = one(
        "select count(*) filter (where is_suppressed), count(distinct year) from pipeline.marts.fct_skill_grade_pyramid"
    )
    assert suppressed and years == 2  # the record stating 2024
    assert bench.counts["floor_target_progress"] == one("select count(*) from pipeline.marts.fct_target_progress")[0]


def test_the_pipeline_decided_the_added_workers(bench):
    """The added records reached the pipeline's deduplicated workers as intended, so the agreement on the
    pyramid covers the latest-record rule."""
    pseudonym = make_pseudonymiser(os.environ["REFORM_PSEUDONYM_KEY"].encode())
    for id_number, expected in bench.kept.items():
        kept = bench.con.execute(
            "select reference_year, region_code, skill_grade_code from pipeline.staging.int_workers_deduplicated"
            " where worker_pseudonym = ?",
            [pseudonym(id_number)],
        ).fetchall()
        assert set(kept) == expected


def test_the_gb18030_records_count(bench):
    """Part 1 of the worker records is GB18030: its grades are read (not all '_Z', no grade)."""
    graded = bench.con.execute(
        "select count(*) from floor_skill_pyramid where region_code = '000000' and industry_section_code = '_T'"
        " and skill_grade_code not in ('_T', '_Z') and n_workers > 100"
    ).fetchall()[0][0]
    assert graded >= 4


PERTURBATIONS = {
    "a row dropped": (
        "observation_current",
        "delete from {t} where rowid = (select min(rowid) from {t})",
        "rows only in the pipeline",
    ),
    "a value off by a millionth": (
        "observation_current",
        "update {t} set value = value * (1 + 1e-6) where rowid = (select min(rowid) from {t} where value > 0)",
        "value differs",
    ),
    "a row added twice": (
        "completeness",
        "insert into {t} select * from {t} limit 1",
        "duplicate keys",
    ),
    "a late submission on time": (
        "completeness",
        "update {t} set is_on_time = true where rowid = (select min(rowid) from {t} where not is_on_time)",
        "is_on_time differs",
    ),
    "another status": (
        "target_progress",
        "update {t} set status = 'on_track' where rowid = (select min(rowid) from {t})",
        "status differs",
    ),
    "a small cell shown": (
        "skill_pyramid",
        "update {t} set n_workers = 1, is_suppressed = false"
        " where rowid = (select min(rowid) from {t} where is_suppressed)",
        "n_workers differs",
    ),
}


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
def test_the_check_fails_on_a_perturbed_floor(bench, perturbation):
    mart, statement, expected = PERTURBATIONS[perturbation]
    table = f"broken_{mart}"
    bench.con.execute(f"create or replace temp table {table} as select * from floor_{mart}")
    bench.con.execute(statement.format(t=table))
    messages = compare(bench.con, implementations=["broken"], marts=[mart])
    bench.con.execute(f"drop table {table}")
    assert any(expected in message for message in messages), messages


def test_the_check_fails_on_a_perturbed_pandas_frame(bench):
    frame = bench.frames["skill_pyramid"]
    bench.con.register("brokenpd_skill_pyramid", frame.iloc[1:])
    messages = compare(bench.con, implementations=["brokenpd"], marts=["skill_pyramid"])
    bench.con.unregister("brokenpd_skill_pyramid")
    assert any("rows only in the pipeline" in message for message in messages), messages
    assert any("rows, the pipeline" in message for message in messages), messages


def test_a_missing_implementation_is_reported(bench):
    assert compare(bench.con, implementations=["nothing"]) == [
        f"nothing {name}: relation nothing_{name} does not exist" for name in CORE_MARTS
    ]


# ------------------------------------------------------------------------------------ target progress


DEMO_AS_OF = "2024-05-20"
FORM_HEADER = ["单位代码", "报告期", "指标代码", "指标名称", "数值", "计量单位", "备注", "填报日期"]


def _period_label(period_id: str) -> str:
    year = period_id[:4]
    if len(period_id) == 4:
        return f"{year}年"
    kind, number = period_id[5], int(period_id[6:])
    return {
        "S": f"{year}年{'上' if number == 1 else '下'}半年",
        "Q": f"{year}年第{number}季度",
        "M": f"{year}年{number}月",
    }[kind]


def _cell(value: float | None, status: str) -> str:
    if status in ("masked", "not_applicable", "missing"):
        return {"masked": "*", "not_applicable": "—", "missing": ""}[status]
    return format(Decimal(repr(value)), "f") + {"estimated": "(e)", "provisional": "(p)"}.get(status, "")


def write_portal_forms(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """Every accepted submission row of a build, as portal-layout forms ``<file sha256>.csv`` (so that the
    versions keep their order), dated with the Shanghai day the pipeline received them."""
    rows = con.execute(
        """
        select file_sha256, reporting_unit_code, period_id, indicator_code, value, obs_status, unit,
            cast(timezone('Asia/Shanghai', timezone('UTC', received_at)) as date)
        from marts.fct_indicator_observation
        order by file_sha256, source_sheet, source_row_number
        """
    ).fetchall()
    files: dict[str, list[list[str]]] = {}
    for sha, unit_code, period, indicator, value, status, unit, day in rows:
        files.setdefault(sha, []).append(
            [unit_code, _period_label(period), indicator, "", _cell(value, status), unit, "", day.isoformat()]
        )
    for sha, body in files.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows([FORM_HEADER, *body])
        (out / f"{sha}.csv").write_bytes(buffer.getvalue().encode("utf-8"))


@pytest.fixture(scope="module")
def demo_bench(tmp_path_factory):
    """The demo's submissions through ingest and the target-progress models (as of DEMO_AS_OF), then the
    same submissions as portal forms through the floor and the pandas peer."""
    root = tmp_path_factory.mktemp("bench-demo")
    home, gen, data = root / "home", root / "gen", root / "portal"
    _reform("generate", "--microdata", "--out", str(gen), home=home)
    _reform("ingest", "--historical", str(gen), home=home)
    build_path, _ = warehouse.prepare(Paths.from_env(home), "demo")
    warehouse.run_dbt(build_path, ["seed"])
    warehouse.run_dbt(build_path, ["run", "--select", "+fct_target_progress"], {"as_of_date": DEMO_AS_OF})

    (data / "inbox").mkdir(parents=True)
    shutil.copytree(gen / "microdata", data / "inbox" / "microdata")
    (data / "register").mkdir()
    (data / "register" / "reporting_units.csv").write_text("unit_code,name_zh,name_en,kind,region_code\n")
    (data / "register" / "reporting_obligations.csv").write_text(
        "unit_code,indicator_code,periodicity,first_year,last_year,due_days_after_period_end\n"
    )
    con = duckdb.connect()
    attach_pipeline(con, build_path)
    with duckdb.connect(str(build_path), read_only=True) as build:
        write_portal_forms(build, data / "inbox")
    as_of = con.execute("select max(as_of_date) from pipeline.marts.fct_target_progress").fetchall()[0][0]
    run_floor(con, data, SEEDS_DIR, as_of=as_of, scratch_dir=root)
    register_pandas(con, run_pandas(data, SEEDS_DIR, as_of=as_of))
    yield con
    con.close()


def test_target_progress_agrees_where_targets_have_data(demo_bench):
    statuses = dict(
        demo_bench.execute("select status, count(*) from pipeline.marts.fct_target_progress group by all").fetchall()
    )
    assert {"achieved", "on_track", "at_risk", "off_track", "no_data"} <= set(statuses)
    assert compare(demo_bench, marts=["target_progress"]) == []
