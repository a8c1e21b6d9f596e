"""Unit submissions: every data row is accepted or quarantined with a reason; nothing is lost."""

from __future__ import annotations

import json

import pytest

from ingest.readers import RawRow, RawTable, ReadError, read_csv, read_json
from ingest.reference import Indicator, Reference, name_key
from ingest.submissions import FileLevelError, find_header, process_tables


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
