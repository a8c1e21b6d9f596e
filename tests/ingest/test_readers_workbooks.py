"""Reading workbooks and text as the clerk sees them: found by a fuzz review (session 27), each of
these once read a figure wrong, read a hidden sheet, or refused a file with the wrong advice."""

from __future__ import annotations

import os

import pytest
from openpyxl import Workbook

from ingest.readers import ReadError, read_csv, read_file

HEADER = ["单位代码", "报告期", "指标代码", "数值", "计量单位"]


def workbook(path, *sheets: tuple[str, list[list[object]], str]) -> None:
    """``sheets``: (name, rows, state) with state visible or hidden; written by openpyxl."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows, state in sheets:
        ws = wb.create_sheet(name)
        ws.sheet_state = state
        for row in rows:
            ws.append(row)
    wb.save(path)


def values(path) -> list[list[str]]:
    [table] = read_file(path)
    return [row.cells for row in table.rows[1:]]


def test_a_percentage_cell_is_read_as_the_rate_the_clerk_typed(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for value, number_format in [(0.85, "0%"), (0.8534, "0.0%"), (1.2, "0.00%"), (0.85, "General"), (85, "0")]:
        ws.append(["530700-ZGH", "2025", "party_org_rate", value, "%"])
        ws.cell(ws.max_row, 4).number_format = number_format
    wb.save(tmp_path / "rates.xlsx")
    assert [row[3] for row in values(tmp_path / "rates.xlsx")] == ["85%", "85.34%", "120%", "0.85", "85"]


def test_an_excel_error_is_read_as_the_error_not_as_a_blank(tmp_path):
    rows = [HEADER, ["530700-ZGH", "2025", "skill_talents_total", "#DIV/0!", "人"]]
    rows.append(["530700-ZGH", "2025", "x", 3, "人"])
    workbook(tmp_path / "errors.xlsx", ("Sheet", rows, "visible"))
    assert [row[3] for row in values(tmp_path / "errors.xlsx")] == ["#DIV/0!", "3"]


def test_a_hidden_sheet_is_not_read(tmp_path):
    old = [HEADER, ["530700-ZGH", "2025", "skill_talents_total", 1, "人"]]
    current = [HEADER, ["530700-ZGH", "2025", "skill_talents_total", 735, "人"]]
    workbook(tmp_path / "form.xlsx", ("旧版", old, "hidden"), ("填报表", current, "visible"))
    [table] = read_file(tmp_path / "form.xlsx")
    assert table.sheet == "填报表" and table.rows[1].cells[3] == "735"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(2048), "password"),
        ("单位代码,报告期,指标代码,数值\n530700-ZGH,2025,skill_talents_total,1\n".encode(), "name it .csv"),
        ("单位代码,数值\n530700-ZGH,1\n".encode("gb18030"), "name it .csv"),
    ],
)
def test_a_file_named_xlsx_that_is_not_a_workbook_is_told_what_it_is(tmp_path, content, says):
    path = tmp_path / "form.xlsx"
    path.write_bytes(content)
    with pytest.raises(ReadError) as err:
        read_file(path)
    assert err.value.reason == "unsupported_type" and says in str(err.value)


def test_random_bytes_named_xlsx_are_still_a_damaged_file(tmp_path):
    path = tmp_path / "form.xlsx"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ReadError) as err:
        read_file(path)
    assert err.value.reason == "corrupt_file"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_unicode_text_from_excel_is_read(encoding):
    text = "单位代码\t数值\n530700-ZGH\t1\n"
    data = text.encode(encoding)
    if encoding != "utf-16":  # Excel's "Unicode text" always starts with a byte-order mark
        data = ("\ufeff" + text).encode(encoding)
    assert [row.cells for row in read_csv(data).rows] == [["单位代码", "数值"], ["530700-ZGH", "1"]]


def test_a_utf8_form_with_a_cell_pasted_from_gbk_is_refused_with_its_line(tmp_path):
    """Read as GB18030 the whole form's Chinese became other characters; refused, it names the line."""
    rows = [f"530700-ZGH,2025,skill_talents_total,{i},说明" for i in range(40)]
    lines = ["单位代码,报告期,指标代码,数值,备注", *rows]
    data = "\n".join(lines[:11]).encode() + b"\n530700-ZGH,2025,x,1," + "备注".encode("gbk")
    with pytest.raises(ReadError) as err:
        read_csv(data + ("\n" + "\n".join(lines[11:])).encode())
    assert err.value.reason == "bad_encoding" and "the file is UTF-8, but line 12 has bytes" in str(err.value)
    gbk = "\n".join(lines).encode("gbk")  # a GBK form is still read as GBK
    assert read_csv(gbk).rows[1].cells == ["530700-ZGH", "2025", "skill_talents_total", "0", "说明"]


def test_text_named_xlsx_is_told_so_when_its_first_4_kb_end_inside_a_character(tmp_path):
    path = tmp_path / "form.xlsx"
    head = "单位代码,数值\n".encode()
    path.write_bytes(head + b"a" * (4095 - len(head)) + "中文\n".encode() * 50)
    with pytest.raises(ReadError) as err:
        read_file(path)
    assert err.value.reason == "unsupported_type" and "name it .csv" in str(err.value)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
def test_the_utf8_tally_counts_undecodable_bytes_not_replacement_characters(block):
    """A U+FFFD written in the text is a character; the stray byte's line is found wherever blocks end."""
    from ingest.readers import Utf8Tally

    data = ("中文,a\ufffd\n" * 30).encode() + b"x\xb5\n" + ("中文,b\n" * 30).encode()
    tally = Utf8Tally(lines=True)
    for start in range(0, len(data), block):
        tally.feed(data[start : start + block])
    tally.feed(b"", final=True)
    assert (tally.verdict, tally.bad, tally.first_bad_line) == ("utf-8-stray", 1, 31)
    clean = Utf8Tally()
    clean.feed(data.replace(b"\xb5", b""), final=True)
    assert (clean.verdict, clean.bad) == ("utf-8", 0)
