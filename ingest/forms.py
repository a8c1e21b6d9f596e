"""The xlsx form a reporting unit fills: ``reform template`` writes it, ingest reads it back.

Layout (what units' office software produces and ingest understands): a title row, a metadata block
(表号, 填报单位, 单位代码, 报告期, 填报日期), a two-row header with merged cells (指标 over 代码 | 名称),
one row per indicator the unit must report for that period, a 合计 row, a note row, and a second
sheet with instructions. Files are written with fixed zip timestamps, so the same content always has
the same sha256 (re-sending an unchanged form is recognised as the same file).
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

from ingest.config import SEEDS_DIR
from ingest.normalize import parse_period, period_type
from ingest.reference import read_seed

FORM_CODE = "CG-01"
INSTRUCTIONS = [
    "填表说明",
    "1. 数值按计量单位填写阿拉伯数字,可带千分位;百分比可填 85 或 85%。",
    "2. 按规定不公开的数值填 *;不适用填 —;未统计请留空并在备注说明。",
    "3. 请勿修改指标代码、插入或删除列;可以增加备注。",
    "4. 更正已报数据时,请重新提交整张表,系统保留每个版本。",
]


def write_form(
    path: Path, unit_code: str, unit_name: str, period_label: str, rows: list[dict[str, str]], filled_on: str = ""
) -> Path:
    """Write a form with ``rows`` (keys: code, name, uom, value, note)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "指标填报表"
    sheet.append(["产业工人队伍建设改革监测指标填报表"])
    sheet.merge_cells("A1:E1")
    sheet.append(["表号:", FORM_CODE, "", "制表机关:", "产改办"])
    sheet.append(["填报单位:", unit_name, "", "单位代码:", unit_code])
    sheet.append(["报告期:", period_label, "", "填报日期:", filled_on])
    sheet.append(["指标", "", "计量单位", "数值", "备注"])
    sheet.append(["代码", "名称", "", "", ""])
    for cells in ("A5:B5", "C5:C6", "D5:D6", "E5:E6"):
        sheet.merge_cells(cells)
    for row in rows:
        sheet.append([row["code"], row["name"], row["uom"], row.get("value", ""), row.get("note", "")])
    sheet.append(["合计", "", "", "", ""])
    sheet.append(["注: 带*的数值按规定不公开。"])
    sheet.column_dimensions["B"].width = 40
    help_sheet = book.create_sheet("填表说明")
    for line in INSTRUCTIONS:
        help_sheet.append([line])
    book.properties.creator = "reform-monitor"
    book.properties.created = book.properties.modified = datetime(2025, 1, 1)
    buffer = io.BytesIO()
    book.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(stable_zip(buffer.getvalue()))
    return path


def stable_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry times so the same content always has the same sha256."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(2025, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2025-01-01T00:00:00Z", content)
            target.writestr(entry, content)
    return out.getvalue()


class TemplateError(ValueError):
    pass


def template_rows(unit_code: str, period_id: str, seeds_dir: Path = SEEDS_DIR) -> list[dict[str, str]]:
    """The indicators ``unit_code`` must report for ``period_id``, from its reporting obligations."""
    kind = period_type(period_id)
    year = int(period_id[:4])
    indicators = {row["indicator_code"]: row for row in read_seed("indicators", seeds_dir)}
    rows = []
    for obligation in read_seed("reporting_obligations", seeds_dir):
        if (
            obligation["unit_code"] == unit_code
            and obligation["periodicity"] == kind
            and int(obligation["first_year"]) <= year <= int(obligation["last_year"])
        ):
            indicator = indicators[obligation["indicator_code"]]
            rows.append({"code": indicator["indicator_code"], "name": indicator["name_zh"], "uom": indicator["unit"]})
    return rows


def write_template(unit_code: str, period: str, path: Path, seeds_dir: Path = SEEDS_DIR) -> tuple[Path, int]:
    """Write the empty form of ``unit_code`` for ``period`` (any spelling); returns (path, indicator rows)."""
    units = {row["unit_code"]: row for row in read_seed("reporting_units", seeds_dir)}
    if unit_code not in units:
        raise TemplateError(
            f"unknown reporting unit {unit_code!r}; see dbt_project/seeds/reference/reporting_units.csv"
        )
    period_id = parse_period(period)
    rows = template_rows(unit_code, period_id, seeds_dir)
    if not rows:
        raise TemplateError(
            f"{unit_code} has no {period_type(period_id)} reporting obligation in {period_id[:4]}; "
            "nothing to fill for this period"
        )
    return write_form(path, unit_code, units[unit_code]["name_zh"], period_id, rows), len(rows)
