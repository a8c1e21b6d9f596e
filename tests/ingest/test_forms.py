"""`reform template` writes the form a unit fills; a filled form round-trips through ingest."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from ingest.config import Paths
from ingest.forms import TemplateError, template_rows, write_template
from ingest.intake import ingest_file
from ingest.readers import read_file
from ingest.reference import load_reference
from ingest.submissions import process_tables
from tests.conftest import run_reform

UNIT = "530700-ZGH"


def fill(path, values: dict[str, str], formula_row: int | None = None):
    book = load_workbook(path)
    sheet = book["指标填报表"]
    for row in sheet.iter_rows(min_row=7):
        code = row[0].value
        if code in values:
            row[3].value = values[code]
    if formula_row is not None:
        sheet.cell(row=formula_row, column=4).value = "=1+1"  # no cached value: never evaluated
    book.save(path)


def test_template_lists_the_units_obligations_for_that_period(tmp_path):
    path, count = write_template(UNIT, "2025年第三季度", tmp_path / "form.xlsx")
    assert count == len(template_rows(UNIT, "2025-Q3")) > 0
    sheet = load_workbook(path)["指标填报表"]
    assert sheet["E3"].value == UNIT
    assert sheet["B4"].value == "2025-Q3"
    codes = [row[0] for row in sheet.iter_rows(min_row=7, values_only=True) if row[0] and row[0] != "合计"]
    assert codes[:count] == [row["code"] for row in template_rows(UNIT, "2025-Q3")]


def test_same_template_twice_is_byte_identical(tmp_path):
    first, _ = write_template(UNIT, "2025", tmp_path / "a.xlsx")
    second, _ = write_template(UNIT, "2025年", tmp_path / "b.xlsx")
    assert first.read_bytes() == second.read_bytes()


def test_filled_template_round_trips(reform_home, tmp_path):
    path, _ = write_template(UNIT, "2025Q3", tmp_path / "form.xlsx")
    rows = template_rows(UNIT, "2025-Q3")
    values = {row["code"]: str(10 * (i + 1)) for i, row in enumerate(rows)}
    values[rows[0]["code"]] = "1,234"
    if len(rows) > 1:
        values[rows[1]["code"]] = "*"
    fill(path, values)
    result = process_tables(read_file(path), load_reference(), lambda v: v)
    assert result.quarantine == []
    got = {r["indicator_code"]: (r["value"], r["obs_status"]) for r in result.rows}
    assert got[rows[0]["code"]] == (1234.0, "normal")
    if len(rows) > 1:
        assert got[rows[1]["code"]] == (None, "masked")
    assert {r["period_id"] for r in result.rows} == {"2025-Q3"}
    assert {r["reporting_unit_code"] for r in result.rows} == {UNIT}
    assert len(result.rows) == len(rows)
    outcome = ingest_file(path, Paths.from_env())
    assert outcome.status == "loaded"


def test_a_formula_cell_is_never_evaluated(reform_home, tmp_path):
    path, _ = write_template(UNIT, "2025Q3", tmp_path / "form.xlsx")
    rows = template_rows(UNIT, "2025-Q3")
    fill(path, {rows[0]["code"]: "5"}, formula_row=7)  # the first indicator now holds "=1+1" uncached
    result = process_tables(read_file(path), load_reference(), lambda v: v)
    first = next(r for r in result.rows if r["indicator_code"] == rows[0]["code"])
    assert first["value"] is None and first["obs_status"] == "missing"


def test_unknown_unit_or_period_without_obligation(tmp_path):
    with pytest.raises(TemplateError, match="unknown reporting unit"):
        write_template("999999-XX", "2025", tmp_path / "x.xlsx")
    with pytest.raises(TemplateError, match="no month reporting obligation"):
        write_template(UNIT, "2025-M09", tmp_path / "x.xlsx")


def test_cli_template(tmp_path):
    out = tmp_path / "f.xlsx"
    done = run_reform("template", "--unit", UNIT, "--period", "2025年第三季度", "--out", str(out), home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.exists()
    bad = run_reform("template", "--unit", "nope", "--period", "2025", home=tmp_path)
    assert bad.returncode == 2 and "unknown reporting unit" in bad.stdout
