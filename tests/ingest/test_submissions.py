"""Unit submissions: every data row is accepted or quarantined with a reason; nothing is lost."""

from __future__ import annotations

import json

import pytest

from ingest.readers import RawRow, RawTable, ReadError, read_csv, read_json
from ingest.reference import Indicator, Reference, name_key
from ingest.submissions import FileLevelError, find_header, process_tables, scrub_personal_data


@pytest.fixture
def reference() -> Reference:
    indicators = {
        "skill_talents_total": Indicator("skill_talents_total", "技能人才总量", "人", "count"),
        "party_org_rate": Indicator("party_org_rate", "非公企业党组织覆盖率", "%", "rate"),
        "startup_loans": Indicator("startup_loans", "发放贷款金额", "元", "amount"),
    }
    names = {name_key(i.name_zh): code for code, i in indicators.items()}
    return Reference(
        indicators,
        names,
        {"530700-ZGH": "530700", "530702-ZGH": "530702"},
        {"000000", "530000", "530700", "530702"},
    )


def pseudo(value: str) -> str:
    return f"P{len(value)}"


def table(*rows: list[str], metadata: dict[str, str] | None = None) -> RawTable:
    return RawTable("s1", [RawRow("s1", i, list(r)) for i, r in enumerate(rows, start=1)], metadata or {})


def test_canonical_rows_from_a_chinese_form(reference):
    result = process_tables(
        [
            table(
                ["单位代码", "报告期", "指标代码", "数值", "计量单位"],
                ["530700-ZGH", "2025年第三季度", "skill_talents_total", "6.2万", "人"],
                ["530700-ZGH", "2025Q3", "party_org_rate", "72%", "%"],
            )
        ],
        reference,
        pseudo,
    )
    assert result.quarantine == []
    assert [(r["indicator_code"], r["period_id"], r["value"], r["region_code"]) for r in result.rows] == [
        ("skill_talents_total", "2025-Q3", 62000.0, "530700"),
        ("party_org_rate", "2025-Q3", 72.0, "530700"),
    ]


def test_english_headers_any_order_and_indicator_by_name(reference):
    result = process_tables(
        [
            table(
                ["value", "indicator_name", "period", "unit_code"],
                ["3.5亿元", "发放贷款金额", "2025", "530700-ZGH"],
            )
        ],
        reference,
        pseudo,
    )
    assert result.rows[0]["indicator_code"] == "startup_loans"
    assert result.rows[0]["value"] == 350_000_000.0


def test_metadata_block_supplies_unit_and_period(reference):
    t = table(
        ["产改监测表"],
        ["单位代码:", "530702-ZGH", "报告期:", "2025年上半年"],
        [],
        ["指标代码", "数值(万人)"],
        ["skill_talents_total", "1.5"],
        ["合计", "1.5"],
        ["注: 数据为初步统计"],
    )
    from ingest.readers import _with_metadata

    result = process_tables([_with_metadata(t)], reference, pseudo)
    assert [(r["reporting_unit_code"], r["period_id"], r["value"]) for r in result.rows] == [
        ("530702-ZGH", "2025-S1", 15000.0)
    ]
    assert result.skipped == 2  # the 合计 row and the note row


def test_merged_two_row_header(reference):
    t = table(
        ["单位代码", "报告期", "指标", "", "数值"],
        ["", "", "代码", "名称", ""],
        ["530700-ZGH", "2025", "skill_talents_total", "技能人才总量", "100"],
    )
    index, _header, mapping = find_header(t.rows)
    assert index == 1
    assert set(mapping.values()) >= {"indicator_code", "indicator_name", "value"}
    assert process_tables([t], reference, pseudo).rows[0]["value"] == 100.0


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["530700-ZGH", "2025", "nope", "1"], "unknown_indicator"),
        (["999999-XX", "2025", "skill_talents_total", "1"], "unknown_unit"),
        (["530700-ZGH", "2025年13月", "skill_talents_total", "1"], "bad_period"),
        (["530700-ZGH", "2040", "skill_talents_total", "1"], "period_out_of_calendar"),
        (["530700-ZGH", "2025", "skill_talents_total", "约一百"], "not_a_number"),
        (["530700-ZGH", "2025", "skill_talents_total", "5人次"], "unit_mismatch"),
        (["", "2025", "skill_talents_total", "5"], "missing_field"),
    ],
)
def test_bad_rows_are_quarantined_with_a_reason(reference, row, reason):
    result = process_tables([table(["单位代码", "报告期", "指标代码", "数值"], row)], reference, pseudo)
    assert result.rows == []
    [q] = result.quarantine
    assert q.reason_code == reason
    assert q.row_number == 2
    assert q.message  # a sentence for the clerk
    assert json.loads(q.raw_values)["数值"] == row[3]


def test_unknown_region_is_quarantined(reference):
    result = process_tables(
        [
            table(
                ["单位代码", "行政区划代码", "报告期", "指标代码", "数值"],
                ["530700-ZGH", "123456", "2025", "skill_talents_total", "1"],
            )
        ],
        reference,
        pseudo,
    )
    assert result.quarantine[0].reason_code == "unknown_region"


def test_duplicate_rows_keep_the_first(reference):
    result = process_tables(
        [
            table(
                ["单位代码", "报告期", "指标代码", "数值"],
                ["530700-ZGH", "2025", "skill_talents_total", "1"],
                ["530700-ZGH", "2025年", "skill_talents_total", "2"],
            )
        ],
        reference,
        pseudo,
    )
    assert [r["value"] for r in result.rows] == [1.0]
    assert result.quarantine[0].reason_code == "duplicate_row"
    assert "row 2" in result.quarantine[0].message


def test_masked_and_not_applicable_cells_are_rows_with_null_values(reference):
    result = process_tables(
        [
            table(
                ["单位代码", "报告期", "指标代码", "数值"],
                ["530700-ZGH", "2025", "skill_talents_total", "*"],
                ["530700-ZGH", "2025", "party_org_rate", "—"],
            )
        ],
        reference,
        pseudo,
    )
    assert [(r["value"], r["obs_status"]) for r in result.rows] == [
        (None, "masked"),
        (None, "not_applicable"),
    ]


def test_received_equals_accepted_plus_quarantined(reference):
    rows = [
        ["530700-ZGH", "2025", "skill_talents_total", "1"],
        ["530700-ZGH", "2025", "bad", "1"],
        ["合计", "", "", "2"],
        ["", "", "", ""],
    ]
    result = process_tables([table(["单位代码", "报告期", "指标代码", "数值"], *rows)], reference, pseudo)
    assert result.received == len(result.rows) + len(result.quarantine) == 2
    assert result.skipped == 2


def test_id_numbers_in_notes_and_quarantine_are_pseudonymised(reference):
    id_number = "11010519491231002X"
    result = process_tables(
        [
            table(
                ["单位代码", "报告期", "指标代码", "数值", "备注"],
                ["530700-ZGH", "2025", "skill_talents_total", "1", f"联系人 {id_number}"],
                ["530700-ZGH", "2025", "nope", "1", id_number],
            )
        ],
        reference,
        pseudo,
    )
    assert id_number not in str(result.rows) and id_number not in str(result.quarantine)
    assert "<id:P18>" in str(result.rows[0]["note"])


def test_a_file_without_a_header_is_a_file_level_error(reference):
    with pytest.raises(FileLevelError) as err:
        process_tables([table(["hello", "world"], ["1", "2"])], reference, pseudo)
    assert err.value.reason == "no_header"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_csv_encodings(encoding):
    data = "单位代码,数值\n530700-ZGH,1\n".encode(encoding)
    assert read_csv(data).rows[0].cells == ["单位代码", "数值"]


def test_json_records_and_metadata():
    payload = {"metadata": {"单位代码": "530700-ZGH"}, "records": [{"indicator_code": "a", "value": 1.0}]}
    t = read_json(json.dumps(payload).encode())
    assert t.metadata == {"单位代码": "530700-ZGH"}
    assert [r.cells for r in t.rows] == [["indicator_code", "value"], ["a", "1"]]


def test_malformed_json_is_a_read_error():
    with pytest.raises(ReadError) as err:
        read_json(b"[{")
    assert err.value.reason == "corrupt_file"


# --------------------------------------------------------------------------------------------------
# Found by a fuzz review (session 27): each of these once loaded wrong data, lost rows or kept
# personal data in the clear
# --------------------------------------------------------------------------------------------------

PERSON = "11010519491231002X"  # a valid resident ID number (GB 11643)


def from_csv(text: str) -> RawTable:
    return read_csv(text.encode())


def test_an_unquoted_thousands_separator_is_a_malformed_row_not_a_shifted_value(reference):
    text = "单位代码,报告期,指标代码,数值,备注\n530700-ZGH,2025,skill_talents_total,1,234,已核\n"
    result = process_tables([from_csv(text)], reference, pseudo)
    assert result.rows == []
    [q] = result.quarantine
    assert q.reason_code == "malformed_row" and "double quotes" in q.message
    # quoted, it is one cell and one number
    quoted = text.replace("1,234", '"1,234"')
    assert [r["value"] for r in process_tables([from_csv(quoted)], reference, pseudo).rows] == [1234.0]


def test_cells_right_of_a_workbook_table_are_not_a_malformed_row(reference):
    t = table(["单位代码", "报告期", "指标代码", "数值"], ["530700-ZGH", "2025", "skill_talents_total", "1", "旁注"])
    assert [r["value"] for r in process_tables([t], reference, pseudo).rows] == [1.0]


@pytest.mark.parametrize("value", ["1" + "0" * 400, "9" * 5000])
def test_a_number_too_large_to_be_a_figure_is_refused(reference, value):
    t = table(["单位代码", "报告期", "指标代码", "数值"], ["530700-ZGH", "2025", "skill_talents_total", value])
    [q] = process_tables([t], reference, pseudo).quarantine
    assert q.reason_code == "not_a_number" and "too large" in q.message


def test_a_json_value_of_a_million_digits_is_a_quarantined_row_not_a_crash(reference):
    records = [{"单位代码": "530700-ZGH", "报告期": "2025", "指标代码": "skill_talents_total", "数值": "1" * 1_000_001}]
    [q] = process_tables([read_json(json.dumps(records).encode())], reference, pseudo).quarantine
    assert q.reason_code == "not_a_number" and len(q.message) < 200


def test_a_json_record_whose_first_key_is_its_note_is_data(reference):
    """JSON written with sorted keys puts 备注 first; "说明：初步数" is then the first cell of the row."""
    records = [
        {"备注": "说明：初步数", "指标代码": "skill_talents_total", "数值": "735"},
        {"备注": "合计", "指标代码": "party_org_rate", "数值": "72"},
    ]
    payload = {"metadata": {"单位代码": "530700-ZGH", "报告期": "2025Q3"}, "records": records}
    result = process_tables([read_json(json.dumps(payload, sort_keys=True).encode())], reference, pseudo)
    assert [(r["indicator_code"], r["value"], r["note"]) for r in result.rows] == [
        ("skill_talents_total", 735.0, "说明：初步数"),
        ("party_org_rate", 72.0, "合计"),
    ]


def test_a_note_in_the_first_column_of_a_sheet_is_still_a_note(reference):
    t = table(
        ["备注", "单位代码", "报告期", "指标代码", "数值"],
        ["初步数", "530700-ZGH", "2025", "skill_talents_total", "1"],
        ["注：本表数据为初步统计", "", "", "", ""],
    )
    result = process_tables([t], reference, pseudo)
    # the 备注 column's own cell is the row's note; a 注： line under the table (in that column too) is
    # data only when the row has other cells: here it has none, so it is skipped
    assert [r["note"] for r in result.rows] == ["初步数"]
    assert result.received == 1


@pytest.mark.parametrize(
    "text",
    [
        "单位代码,报告期,指标代码,数值\n",
        "单位代码,报告期,指标代码,数值\n,,,\n注：本表无数据,,,\n",
    ],
)
def test_a_form_with_a_header_but_no_data_rows_is_refused(reference, text):
    with pytest.raises(FileLevelError) as err:
        process_tables([from_csv(text)], reference, pseudo)
    assert err.value.reason == "no_data" and "no data rows" in str(err.value)


def test_a_signature_block_under_the_form_is_skipped_and_never_stored(reference):
    text = (
        "单位代码,报告期,指标代码,数值\n530700-ZGH,2025,skill_talents_total,1\n"
        ",,填报人：李小明 电话：13800001111,\n联系人：王大锤,,,\n制表人：赵六,,,\n审核人：钱七,,,\n"
    )
    result = process_tables([from_csv(text)], reference, pseudo)
    assert len(result.rows) == 1 and result.quarantine == [] and result.skipped == 4
    assert "李小明" not in str(result.rows) and "13800001111" not in str(result.rows)


@pytest.mark.parametrize(
    ("written", "token"),
    [
        (f"ID{PERSON}", "<id:P18>"),
        (f"No.{PERSON}号", "<id:P18>"),
        ("".join(chr(ord(c) + 0xFEE0) for c in PERSON), "<id:P18>"),  # full-width, Ｘ too
        (f"{PERSON[:6]}-{PERSON[6:14]}-{PERSON[14:]}", "<id:P18>"),
        (f"{PERSON[:6]} {PERSON[6:14]} {PERSON[14:]}", "<id:P18>"),
        ("110105491231002", "<id:P15>"),  # a 15-digit ID number (issued before 1999)
        ("电话13800001111", "<phone>"),
        ("tel +86 138-0000-1111", "<phone>"),
        (f"{PERSON[:6]} {PERSON[6:]}", "<id:P18>"),  # in groups of 6 and 12
        ("手机１３８００００１１１１", "<phone>"),  # full-width
        ("0888-5123456", "<phone>"),  # a landline with its area code
        ("（0871）65123456", "<phone>"),
    ],
)
def test_personal_data_in_any_spelling_is_scrubbed_from_notes_and_messages(reference, written, token):
    t = table(
        ["单位代码", "报告期", "指标代码", "数值", "备注"],
        ["530700-ZGH", "2025", "skill_talents_total", "1", f"联系人{written}"],
        ["530700-ZGH", "2025", "party_org_rate", written, ""],  # typed in the value cell
        ["530700-ZGH", written, "startup_loans", "1", ""],  # in the period cell: quoted by the message
    )
    result = process_tables([t], reference, pseudo)
    digits = "".join(ch for ch in written if ch.isdigit())
    everything = str(result.rows) + str(result.quarantine)
    assert written not in everything and digits[-11:] not in everything
    assert token in result.rows[0]["note"]
    assert [q.reason_code for q in result.quarantine] == ["not_a_number", "bad_period"]
    assert token in result.quarantine[1].message


def test_scrubbing_a_scrubbed_text_changes_nothing():
    """A recorded file name is scrubbed again when a reprocess records it: the pseudonyms in it are hex,
    and their runs of digits can look like a mobile (1 + 10 digits) or a 15-digit ID number."""
    from ingest.intake import make_pseudonymiser

    real = make_pseudonymiser(b"k")
    mobile_in_hex = "<id:ab13800001111cdef0123456789abcde>"
    id_in_hex = "<id:a110105491231002bcdef0123456789a>"
    assert scrub_personal_data(f"{mobile_in_hex} {id_in_hex}", real) == f"{mobile_in_hex} {id_in_hex}"
    once = scrub_personal_data(f"{PERSON}_报表 tel 13800001111 <id:x>.csv", real)
    assert once == f"<id:{real(PERSON)}>_报表 tel <phone> <id:x>.csv"
    assert scrub_personal_data(once, real) == once
    assert scrub_personal_data(f"{mobile_in_hex}13900001111", real) == f"{mobile_in_hex}<phone>"


def test_a_sheet_named_after_an_id_number_is_stored_as_its_pseudonym(reference):
    t = table(["单位代码", "报告期", "指标代码", "数值"], ["530700-ZGH", "2025", "skill_talents_total", "1"],
              ["530700-ZGH", "2025", "no_such_indicator", "1"])  # fmt: skip
    result = process_tables([RawTable(PERSON, t.rows, t.metadata)], reference, pseudo)
    assert result.rows[0]["sheet"] == result.quarantine[0].sheet == "<id:P18>"


def test_an_id_number_typed_as_the_value_is_refused_not_stored_as_a_number(reference):
    t = table(
        ["单位代码", "报告期", "指标代码", "数值"], ["530700-ZGH", "2025", "skill_talents_total", PERSON[:17] + "7"]
    )
    [q] = process_tables([t], reference, pseudo).quarantine
    assert q.reason_code == "not_a_number" and "ID number" in q.message
    assert PERSON[:17] not in q.raw_values


def test_ordinary_numbers_in_notes_are_kept(reference):
    note = "合同号 20250101001，培训1200人次，金额 123456789012 元"
    t = table(
        ["单位代码", "报告期", "指标代码", "数值", "备注"], ["530700-ZGH", "2025", "skill_talents_total", "1", note]
    )
    assert process_tables([t], reference, pseudo).rows[0]["note"] == note
