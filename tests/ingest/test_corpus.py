"""A corpus of messy forms, the way units really send them, each with the canonical rows it must yield.

Every file is built here from its description (so the corpus is readable and versioned as code), then
ingested through the real path: reader → normaliser → reference checks. Canonical row:
(reporting unit, region, period, indicator, value, status).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from ingest.readers import read_file
from ingest.reference import load_reference
from ingest.submissions import process_tables

U = "530700-ZGH"
C = "530702-XZF"
SKILL, TRAIN, RATE, JOBS, LOANS = (
    "skill_talents_total",
    "vocational_training_person_times",
    "nonpublic_party_org_coverage_rate",
    "urban_new_jobs",
    "startup_loan_amount",
)


def xlsx(path: Path, sheets: dict[str, list[list[object]]], merges: dict[str, list[str]] | None = None) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        for cells in (merges or {}).get(name, []):
            sheet.merge_cells(cells)
    book.save(path)
    return path


def text(path: Path, content: str, encoding: str) -> Path:
    path.write_bytes(content.encode(encoding))
    return path


CORPUS = {
    "xlsx form: title, metadata block, merged two-row header, 万 in the header, 合计, notes, help sheet": (
        lambda d: xlsx(
            d / "form.xlsx",
            {
                "填报表": [
                    ["产业工人队伍建设改革监测指标填报表"],
                    ["表号:", "CG-01", None, "单位代码:", U],
                    ["报告期:", "2025年第三季度", None, "填报日期:", "2025-10-10"],
                    ["指标", None, "数值(万人次)", "备注"],
                    ["代码", "名称", None, None],
                    [TRAIN, "职业培训人次", "１.２５", "全角"],
                    [JOBS, "城镇新增就业人数", 0.3, "万人次 header applies to every row"],
                    ["合计", None, 1.55, None],
                    ["注: 带*的数值按规定不公开。"],
                ],
                "填表说明": [["1. 数值按计量单位填写"], ["2. 不公开的填 *"]],
            },
            {"填报表": ["A4:B4", "C4:C5", "D4:D5", "A1:D1"]},
        ),
        # 城镇新增就业 is counted in 人: a header in 万人次 is a different unit → quarantined, not converted
        [(U, "530700", "2025-Q3", TRAIN, 12500.0, "normal")],
        {"unit_mismatch": 1},
    ),
    "xlsx with two data sheets (two periods)": (
        lambda d: xlsx(
            d / "two.xlsx",
            {
                "一季度": [["单位代码", "报告期", "指标代码", "数值"], [U, "2025Q1", TRAIN, 10]],
                "二季度": [["单位代码", "报告期", "指标代码", "数值"], [U, "2025Q2", TRAIN, 20]],
            },
        ),
        [(U, "530700", "2025-Q1", TRAIN, 10.0, "normal"), (U, "530700", "2025-Q2", TRAIN, 20.0, "normal")],
        {},
    ),
    "CSV in GB18030, thousands separators, percent sign, 亿 in the value": (
        lambda d: text(
            d / "gbk.csv",
            "单位代码,报告期,指标名称,数值,计量单位\n"
            f'{U},2025年,技能人才总量,"61,234",人\n'
            f"{U},2025年,非公企业党组织覆盖率,72.5%,%\n"
            f"{U},2025年,{'创业担保贷款发放金额'},3.5亿,元\n",
            "gb18030",
        ),
        [
            (U, "530700", "2025", SKILL, 61234.0, "normal"),
            (U, "530700", "2025", RATE, 72.5, "normal"),
            (U, "530700", "2025", LOANS, 350_000_000.0, "normal"),
        ],
        {},
    ),
    "CSV in UTF-8 with BOM, English headers in another order, a region column": (
        lambda d: text(
            d / "bom.csv",
            f"value,indicator_code,region_code,period,unit_code\n1.2万,{SKILL},530702,2025,{C}\n",
            "utf-8-sig",
        ),
        [(C, "530702", "2025", SKILL, 12000.0, "normal")],
        {},
    ),
    "JSON from the online system, unit and period in its metadata": (
        lambda d: text(
            d / "online.json",
            json.dumps(
                {
                    "metadata": {"单位代码": U, "报告期": "2025年上半年"},
                    "records": [{"指标代码": TRAIN, "数值": 300}, {"指标代码": JOBS, "数值": "1,000"}],
                },
                ensure_ascii=False,
            ),
            "utf-8",
        ),
        [(U, "530700", "2025-S1", TRAIN, 300.0, "normal"), (U, "530700", "2025-S1", JOBS, 1000.0, "normal")],
        {},
    ),
    "every period spelling": (
        lambda d: text(
            d / "periods.csv",
            "单位代码,报告期,指标代码,数值\n"
            + "".join(
                f"{U},{p},{TRAIN},{i}\n"
                for i, p in enumerate(["2024", "2024H2", "2024年第三季度", "2025-09", "2025年8月", "202507"], start=1)
            ),
            "utf-8",
        ),
        [
            (U, "530700", p, TRAIN, float(i), "normal")
            for i, p in enumerate(["2024", "2024-S2", "2024-Q3", "2025-M09", "2025-M08", "2025-M07"], start=1)
        ],
        {},
    ),
    "masked, not applicable and blank cells": (
        lambda d: text(
            d / "status.csv",
            "单位代码,报告期,指标代码,数值\n"
            f"{U},2025,{SKILL},*\n{U},2025,{RATE},(略)\n{U},2025Q1,{TRAIN},—\n{U},2025Q2,{TRAIN},\n"
            f"{U},2025Q3,{TRAIN},***\n",
            "utf-8",
        ),
        [
            (U, "530700", "2025", SKILL, None, "masked"),
            (U, "530700", "2025", RATE, None, "masked"),
            (U, "530700", "2025-Q1", TRAIN, None, "not_applicable"),
            (U, "530700", "2025-Q2", TRAIN, None, "missing"),
            (U, "530700", "2025-Q3", TRAIN, None, "masked"),
        ],
        {},
    ),
    "bad rows beside good ones": (
        lambda d: text(
            d / "bad.csv",
            "单位代码,行政区划代码,报告期,指标代码,数值\n"
            f"{U},530700,2025,{SKILL},10\n"
            f"{U},530700,2025,nope,10\n"
            f"999999-XX,530700,2025,{SKILL},10\n"
            f"{U},999999,2025,{SKILL},10\n"
            f"{U},530700,2045,{SKILL},10\n"
            f"{U},530700,2025年第五季度,{SKILL},10\n"
            f"{U},530700,2025,{SKILL},ten\n"
            f"{U},530700,2025,{SKILL},11\n",
            "utf-8",
        ),
        [(U, "530700", "2025", SKILL, 10.0, "normal")],
        {
            "unknown_indicator": 1,
            "unknown_unit": 1,
            "unknown_region": 1,
            "period_out_of_calendar": 1,
            "bad_period": 1,
            "not_a_number": 1,
            "duplicate_row": 1,
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_corpus(case, tmp_path):
    build, expected_rows, expected_quarantine = CORPUS[case]
    result = process_tables(read_file(build(tmp_path)), load_reference(), lambda v: v)
    rows = [
        (r["reporting_unit_code"], r["region_code"], r["period_id"], r["indicator_code"], r["value"], r["obs_status"])
        for r in result.rows
    ]
    assert rows == expected_rows
    reasons: dict[str, int] = {}
    for q in result.quarantine:
        reasons[q.reason_code] = reasons.get(q.reason_code, 0) + 1
        assert q.message and q.row_number > 1
    assert reasons == expected_quarantine
    assert result.received == len(expected_rows) + sum(expected_quarantine.values())
