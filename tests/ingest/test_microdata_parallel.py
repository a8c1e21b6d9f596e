"""The parallel read of microdata files numbers every row exactly as the serial read does."""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime

import duckdb
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric, uscc

from ingest import microdata
from ingest.config import Paths
from ingest.microdata import ingest_microdata_file

NOW = datetime(2025, 6, 30, 8, 0)
HEADER = ["统一社会信用代码", "单位名称", "行业代码", "行政区划代码", "登记注册类型", "职工人数", "统计年度"]


def cc(body: str) -> str:
    return body + uscc.calc_check_digit(body)


def enterprise_file(rows: int) -> tuple[str, dict[int, str], list[int]]:
    """A roster with a title row, bad rows scattered through it, and the row numbers it should give:
    (text, {row number: reason} of the refused rows, row numbers of the accepted rows)."""
    lines: list[list[str]] = [HEADER]
    reasons: dict[int, str] = {}
    accepted: list[int] = []
    for i in range(rows):
        row_number = i + 3  # line 1 is the title, line 2 the header
        code = cc(f"91530702{i:09d}")
        row = [code, f"企业{i}，“引号”", "33", "530702", "私营企业", str(10 + i % 50), "2025"]
        if i % 997 == 5:
            row[0] = code[:-1] + ("0" if code[-1] != "0" else "1")
            reasons[row_number] = "bad_credit_code"
        elif i % 1009 == 7:
            row = [*row, "多", "余"]
            reasons[row_number] = "malformed_row"
        elif i % 1013 == 9:
            row = row[:3]  # a short row: cells may have shifted, so it is misaligned
            reasons[row_number] = "malformed_row"
        elif i % 1019 == 11:
            row = [""] * len(HEADER)  # Excel's blank row: counted, skipped
        elif i % 1021 == 13:
            row[5] = "-3"
            reasons[row_number] = "negative_value"
        else:
            accepted.append(row_number)
        lines.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return "企业名录(2025年)\r\n" + buffer.getvalue(), reasons, accepted


def load(tmp_path, name: str, text: str, kind: str = "enterprises") -> tuple[object, list[dict], list[dict]]:
    """Ingest ``text`` as a ``kind`` file into its own REFORM_HOME ``name``: (outcome, raw rows, quarantine)."""
    paths = Paths.from_env(tmp_path / name).ensure()
    path = paths.home / f"{kind}_2025.csv"
    path.write_bytes(text.encode("utf-8"))
    outcome = ingest_microdata_file(path, kind, paths, now=NOW)
    raw = pq.read_table(paths.lake / "raw" / kind / f"{outcome.sha256}.parquet").to_pylist()
    quarantine = pq.read_table(paths.lake / "audit" / "quarantine" / f"{outcome.sha256}.parquet").to_pylist()
    return outcome, raw, quarantine


@pytest.fixture
def reads(monkeypatch) -> list[bool]:
    """Records, for every file read, whether it was read in parallel (rows numbered by rowid)."""
    calls: list[bool] = []
    read = microdata._read

    def recording(*args, **kwargs):
        calls.append(read(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(microdata, "_read", recording)
    return calls


@pytest.fixture
def kept_order(monkeypatch) -> list[bool]:
    """Records every answer of _keeps_file_order: the read's, then (after a parallel read) the check's."""
    calls: list[bool] = []
    keeps = microdata._keeps_file_order

    def recording(con, query):
        calls.append(keeps(con, query))
        return calls[-1]

    monkeypatch.setattr(microdata, "_keeps_file_order", recording)
    return calls


def test_a_parallel_read_in_many_chunks_numbers_every_row_as_the_file_does(
    tmp_path, monkeypatch, reads, kept_order, caplog
):
    text, reasons, accepted = enterprise_file(30_000)
    monkeypatch.setattr(microdata, "READ_BUFFER_BYTES", 64 * 1024)  # ≈ 2.5 MB: some forty parallel chunks
    assert len(text.encode()) > 30 * 64 * 1024
    with caplog.at_level(logging.INFO, logger="ingest.microdata"):
        outcome, raw, quarantine = load(tmp_path, "parallel", text)
    assert reads == [True], "the file was not read in parallel"
    # the read and the checks kept the file's order, so nothing was sorted when the rows were written
    assert kept_order == [True, True]
    assert "parallel read refused" not in caplog.text
    assert [r["row_number"] for r in raw] == accepted
    assert {q["row_number"]: q["reason_code"] for q in quarantine} == reasons
    assert (outcome.rows_accepted, outcome.rows_quarantined) == (len(accepted), len(reasons))
    assert outcome.rows_skipped == sum(1 for i in range(30_000) if i % 1019 == 11 and i % 997 != 5 and i % 1009 != 7)
    # each row carries its own cells: the name holds the row's index (its full-width comma made ASCII)
    assert all(r["enterprise_name"] == f"企业{r['row_number'] - 3},“引号”" for r in raw)

    # and the serial read gives the very same rows
    monkeypatch.setattr(microdata, "_keeps_file_order", lambda con, query: False)
    _outcome, serial_raw, serial_quarantine = load(tmp_path, "serial", text)
    assert reads == [True, False]
    assert without_file_name(serial_raw) == without_file_name(raw)
    assert without_file_name(serial_quarantine) == without_file_name(quarantine)


def rid(area: str, birth: str, seq: int) -> str:
    body = f"{area}{birth}{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


WORKER_HEADER = ["姓名", "公民身份号码", "性别", "行政区划代码", "技能等级", "统计年度"]


def worker_file(rows: int) -> tuple[str, dict[int, str], list[int]]:
    """Worker records with every kind of bad ID number scattered through them (as enterprise_file)."""
    lines: list[list[str]] = [WORKER_HEADER]
    reasons: dict[int, str] = {}
    accepted: list[int] = []
    for i in range(rows):
        row_number = i + 2
        number = rid("530102", f"{1985 + i % 20}0{1 + i % 9}1{i % 10}", i)  # 五华区: a birth place from 1985
        row = [f"职工{i}", number, "男", "530702", "技师", "2025"]
        if i % 401 == 3:
            row[1] = rid("530702", "19900101", i)  # 古城区's code exists only from 2002: not a birth place then
            reasons[row_number] = "bad_id_number"
        elif i % 409 == 5:
            row[1] = number[:-1] + ("1" if number[-1] != "1" else "2")
            reasons[row_number] = "bad_id_number"
        elif i % 419 == 7:
            row[1] = rid("530102", "20300101", i)  # born after the file was received
            reasons[row_number] = "bad_id_number"
        elif i % 421 == 9:
            row[1] = ""
            reasons[row_number] = "missing_field"
        else:
            accepted.append(row_number)
        lines.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    return buffer.getvalue(), reasons, accepted


def test_worker_records_are_read_in_parallel_with_every_id_check_as_the_serial_read(
    tmp_path, monkeypatch, reads, kept_order
):
    text, reasons, accepted = worker_file(8_000)  # unique ID numbers up to 9,000 rows
    monkeypatch.setattr(microdata, "READ_BUFFER_BYTES", 16 * 1024)  # some twenty chunks
    _outcome, raw, quarantine = load(tmp_path, "parallel", text, "workers")
    assert reads == [True], "the worker records were not read in parallel"
    assert kept_order == [True, True], "the checks of worker records were sorted back into file order"
    assert [r["row_number"] for r in raw] == accepted
    assert {q["row_number"]: q["reason_code"] for q in quarantine} == reasons
    address = [q for q in quarantine if (q["row_number"] - 2) % 401 == 3]
    assert address and all("region code" in q["message"] for q in address)
    future = [q for q in quarantine if (q["row_number"] - 2) % 419 == 7]
    assert future and all("2030" not in q["raw_values"] for q in future), "an ID number reached the quarantine"
    assert all(r["birth_year"] == 1985 + (r["row_number"] - 2) % 20 for r in raw)

    monkeypatch.setattr(microdata, "_keeps_file_order", lambda con, query: False)
    _serial, serial_raw, serial_q = load(tmp_path, "serial", text, "workers")
    assert reads == [True, False]
    assert serial_raw == raw
    assert serial_q == quarantine


def without_file_name(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "file_name"} for row in rows]


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("两行,\n名称", True),  # DuckDB's parallel reader refuses this with null_padding: read again serially
        ("两行\n名称", False),  # this one it reads (as two rows, as the serial reader does)
    ],
)
def test_a_quoted_line_break_is_read_as_the_serial_reader_reads_it(tmp_path, monkeypatch, reads, caplog, name, refused):
    text, reasons, accepted = enterprise_file(3_000)
    lines = text.split("\r\n")
    cells = next(csv.reader([lines[1001]]))  # row 1,000 (line 1,002)
    cells[1] = name
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    lines[1001] = buffer.getvalue()
    text = "\r\n".join(lines)
    monkeypatch.setattr(microdata, "READ_BUFFER_BYTES", 16 * 1024)
    with caplog.at_level(logging.INFO, logger="ingest.microdata"):
        _outcome, raw, quarantine = load(tmp_path, "parallel", text)
    assert reads == [not refused]
    assert ("parallel read refused" in caplog.text) is refused
    if refused:  # one record over two lines: the later rows keep their numbers
        assert [r["row_number"] for r in raw] == accepted
        assert {q["row_number"]: q["reason_code"] for q in quarantine} == reasons
        assert next(r for r in raw if r["row_number"] == 1002)["enterprise_name"] == name
    monkeypatch.setattr(microdata, "_keeps_file_order", lambda con, query: False)
    _outcome, serial_raw, serial_quarantine = load(tmp_path, "serial", text)
    assert reads[-1] is False
    assert without_file_name(serial_raw) == without_file_name(raw)
    assert without_file_name(serial_quarantine) == without_file_name(quarantine)


def test_only_a_statement_without_joins_is_trusted_to_keep_file_order(tmp_path):
    con = duckdb.connect()
    microdata.install_sql(con, b"k")
    path = tmp_path / "a.csv"
    path.write_text("公民身份号码,行政区划代码\n110105199003070011,530702\n")
    for kind, header, expected in [
        ("enterprises", ["统一社会信用代码", "行业代码", "行政区划代码", "登记注册类型", "职工人数"], True),
        ("survey_responses", ["问卷编号", "行政区划代码", "权重"], True),
        # the ID number's address code is checked after the read, so this read keeps the order too
        ("workers", ["公民身份号码", "行政区划代码"], True),
    ]:
        spec = microdata.KIND_SPECS[kind]
        cmap = microdata.map_columns(header, spec)
        layout = microdata.Layout(path, ",", 1, len(header))
        assert microdata._keeps_file_order(con, microdata.stage_sql(spec, cmap, layout, parallel=True)) is expected
    con.execute("create table regions as select * from (values ('530702', 'x')) t(key, code)")
    query = f"select * from {microdata.read_csv_sql(layout, parallel=True)} left join regions on key = c1"
    assert not microdata._keeps_file_order(con, query)


@pytest.mark.parametrize("kind", microdata.KINDS)
def test_the_checks_of_every_kind_keep_the_order_of_a_parallel_read(tmp_path, kind):
    """Every field of the kind mapped: the check statement is scans and projections only (its lookups
    are functions, its IN lists compared in place), so the checked rows need no sort."""
    spec = microdata.KIND_SPECS[kind]
    header = [f.aliases[0] for f in spec.fields]
    path = tmp_path / "a.csv"
    path.write_text(",".join(header) + "\n")
    con = microdata.scratch_connection(":memory:", "1GB", tmp_path / "spill")
    microdata.install_sql(con, b"k")
    cmap = microdata.map_columns(header, spec)
    assert set(cmap.fields) == {f.name for f in spec.fields}
    layout = microdata.Layout(path, ",", 1, len(header))
    con.execute(f"create temp table staged as {microdata.stage_sql(spec, cmap, layout, parallel=True)}")
    query, _reasons = microdata.check_sql(spec, cmap, layout, "2025-06-30", numbered_by_rowid=True)
    assert microdata._keeps_file_order(con, query)
