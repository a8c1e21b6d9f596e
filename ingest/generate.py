"""Deterministic synthetic submissions in the real input formats, for the demo, tests and benchmarks.

The data follow the reference seeds: each reporting unit submits the indicators of its reporting
obligations, one file per unit and period, in the formats units really send (CSV in UTF-8, UTF-8
with BOM and GB18030; JSON from the online system; xlsx forms with a title, a metadata block and a
合计 row). A few files carry the mistakes real forms have (an unknown indicator, text in a value
cell, an impossible period, masked cells), one unit resubmits a corrected file, one file arrives
twice, one is empty and one is not a form at all. The same seed always writes the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import random
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ingest.config import SEEDS_DIR
from ingest.forms import write_form
from ingest.reference import read_seed

SCALES = {
    # scale → (number of reporting units, years, quarters of the last year)
    "small": (12, (2024, 2025), 3),
    "city": (60, (2021, 2022, 2023, 2024, 2025), 4),
}

HEADERS_ZH = {
    "unit": "单位代码",
    "period": "报告期",
    "code": "指标代码",
    "name": "指标名称",
    "value": "数值",
    "uom": "计量单位",
    "note": "备注",
}
HEADERS_EN = {
    "unit": "unit_code",
    "period": "period",
    "code": "indicator_code",
    "name": "indicator_name",
    "value": "value",
    "uom": "unit",
    "note": "note",
}


@dataclass(frozen=True)
class Obligation:
    unit_code: str
    indicator_code: str
    periodicity: str


def _period_labels(periodicity: str, years: tuple[int, ...], last_quarters: int) -> list[tuple[str, str]]:
    """(canonical id, how a clerk writes it) for each period due in the window."""
    labels: list[tuple[str, str]] = []
    for year in years:
        last = year == years[-1]
        if periodicity == "annual" and not last:
            labels.append((f"{year}", f"{year}年"))
        elif periodicity == "half_year":
            labels += [(f"{year}-S1", f"{year}年上半年")] + ([] if last else [(f"{year}-S2", f"{year}年下半年")])
        elif periodicity in ("quarter", "month"):
            quarters = last_quarters if last else 4
            cn = "一二三四"
            labels += [(f"{year}-Q{q}", f"{year}年第{cn[q - 1]}季度") for q in range(1, quarters + 1)]
    return labels


def _value(rng: random.Random, indicator: dict[str, str], base: float, step: int) -> str:
    kind, unit = indicator["kind"], indicator["unit"]
    if unit == "%" or kind == "rate":
        return f"{min(100.0, 55 + rng.random() * 40):.1f}"
    if kind == "amount" or unit == "元":
        return f"{base * (500 + rng.random() * 1500) * (1 + 0.1 * step):.0f}"
    grow = 1 + 0.08 * step if kind == "cumulative_count" else 0.9 + rng.random() * 0.2
    return f"{max(0, round(base * grow))}"


def _depth(code: str, indicators: dict[str, dict[str, str]]) -> int:
    depth, seen = 0, {code}
    while (parent := indicators[code].get("parent_code")) and parent in indicators and parent not in seen:
        depth, code = depth + 1, parent
        seen.add(code)
    return depth


def _parts_within_wholes(rows: list[list[str]], indicators: dict[str, dict[str, str]], rng: random.Random) -> None:
    """Make every part a share of its whole (high-skill talents ≤ skill talents, …), wholes first."""
    values = {row[0]: row for row in rows}
    for row in sorted(rows, key=lambda r: _depth(r[0], indicators)):
        parent = indicators[row[0]].get("parent_code")
        if parent in values and values[parent][2].replace(".", "", 1).isdigit():
            share = 0.3 + 0.6 * (zlib.crc32(row[0].encode()) % 1000) / 1000  # steady per indicator
            row[2] = f"{round(float(values[parent][2]) * share * (0.97 + 0.03 * rng.random()))}"


def _inject_outlier(
    files: list[tuple[tuple[str, str], list[list[str]]]], indicators: dict[str, dict[str, str]]
) -> None:
    """One value far outside its unit's own history (a typo of an extra digit or two), for the outlier check."""
    quarterly = [rows for (period_id, _), rows in files if "-Q" in period_id]
    if not quarterly:
        return
    for row in quarterly[-1]:
        indicator = indicators[row[0]]
        if indicator["kind"] in ("count", "cumulative_count") and not indicator.get("parent_code") and row[2].isdigit():
            row[2] = str(int(row[2]) * 40)
            return


def load_obligations(seeds_dir: Path = SEEDS_DIR) -> list[Obligation]:
    return [
        Obligation(row["unit_code"], row["indicator_code"], row["periodicity"])
        for row in read_seed("reporting_obligations", seeds_dir)
    ]


def generate(out_dir: Path, scale: str = "small", seed: int = 20251, seeds_dir: Path = SEEDS_DIR) -> list[Path]:
    """Write a sample inbox to ``out_dir``; returns the files written."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    n_units, years, last_quarters = SCALES[scale]
    rng = random.Random(seed)
    indicators = {row["indicator_code"]: row for row in read_seed("indicators", seeds_dir)}
    units = {row["unit_code"]: row for row in read_seed("reporting_units", seeds_dir)}
    by_unit: dict[str, list[Obligation]] = defaultdict(list)
    for obligation in load_obligations(seeds_dir):
        if obligation.indicator_code in indicators and obligation.unit_code in units:
            by_unit[obligation.unit_code].append(obligation)
    chosen = sorted(by_unit)[:n_units]
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    styles = ("csv-utf8", "csv-bom", "csv-gbk", "json", "xlsx")
    for unit_index, unit_code in enumerate(chosen):
        base = 50 + rng.random() * 950
        files: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
        for obligation in by_unit[unit_code]:
            indicator = indicators[obligation.indicator_code]
            for step, (period_id, label) in enumerate(_period_labels(obligation.periodicity, years, last_quarters)):
                files[(period_id, label)].append(
                    [
                        obligation.indicator_code,
                        indicator["name_zh"],
                        _value(rng, indicator, base, step),
                        indicator["unit"],
                        "",
                    ]
                )
        ordered = sorted(files.items())
        for (_, _label), rows in ordered:
            _parts_within_wholes(rows, indicators, rng)
        if unit_index == 0:
            _inject_outlier(ordered, indicators)
        for file_index, ((period_id, label), rows) in enumerate(ordered):
            style = styles[(unit_index + file_index) % len(styles)]
            if rng.random() < 0.08 and rows:
                rows[rng.randrange(len(rows))][2] = rng.choice(["*", "(略)", "—"])
            name = f"{unit_code}_{period_id}"
            written.append(_write(out_dir, name, style, units[unit_code], label, rows, english=(file_index % 4 == 3)))
    written += _special_files(out_dir, chosen, by_unit, indicators, rng)
    return written


def _write(
    out_dir: Path,
    name: str,
    style: str,
    unit: dict[str, str],
    period_label: str,
    rows: list[list[str]],
    english: bool = False,
) -> Path:
    unit_code = unit["unit_code"]
    headers = HEADERS_EN if english else HEADERS_ZH
    columns = ["unit", "period", "code", "name", "value", "uom", "note"]
    if english:  # another system, another column order
        columns = ["code", "value", "uom", "unit", "period", "name", "note"]
    records = [dict(zip(["code", "name", "value", "uom", "note"], row, strict=True)) for row in rows]
    for record in records:
        record.update(unit=unit_code, period=period_label)
    if style == "json":
        path = out_dir / f"{name}.json"
        payload = {
            "metadata": {"单位代码": unit_code, "报告期": period_label, "system": "online-reporting"},
            "records": [{headers[c]: r[c] for c in columns} for r in records],
        }
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        return path
    if style == "xlsx":
        return write_form(out_dir / f"{name}.xlsx", unit_code, unit["name_zh"], period_label, records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([headers[c] for c in columns])
    for record in records:
        writer.writerow([record[c] for c in columns])
    encoding = {"csv-utf8": "utf-8", "csv-bom": "utf-8-sig", "csv-gbk": "gb18030"}[style]
    path = out_dir / f"{name}.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _special_files(
    out_dir: Path,
    units: list[str],
    by_unit: dict[str, list[Obligation]],
    indicators: dict[str, dict[str, str]],
    rng: random.Random,
) -> list[Path]:
    """The mistakes and events real inboxes have."""
    if not units:
        return []
    written: list[Path] = []
    unit = units[0]
    codes = [o.indicator_code for o in by_unit[unit] if o.periodicity in ("quarter", "month")] or [
        o.indicator_code for o in by_unit[unit]
    ]
    code = codes[0]
    name = indicators[code]["name_zh"]
    uom = indicators[code]["unit"]
    # 1. a form with bad rows: unknown indicator, text in a value, an impossible period, a duplicate
    bad_rows = [
        ["单位代码", "报告期", "指标代码", "指标名称", "数值", "计量单位", "备注"],
        [unit, "2025年第二季度", code, name, "１，２３４", uom, "全角数字"],
        [unit, "2025年第二季度", "no_such_indicator", "不存在的指标", "12", "个", ""],
        [unit, "2025年第二季度", code, name, "约一百", uom, "文字"],
        [unit, "2025年13月", code, name, "10", uom, ""],
        [unit, "2025年第二季度", code, name, "1234", uom, "重复行"],
        ["合计", "", "", "", "", "", ""],
    ]
    path = out_dir / f"{unit}_corrections_needed.csv"
    path.write_bytes("\r\n".join(",".join(row) for row in bad_rows).encode("utf-8-sig"))
    written.append(path)
    # 2. a resubmission: the same unit and period again, one value corrected
    resub = out_dir / f"{unit}_2025-Q1_resubmission.csv"
    rows = [["单位代码", "报告期", "指标代码", "数值", "备注"]]
    rows += [[unit, "2025Q1", c, str(100 + i), "更正"] for i, c in enumerate(sorted(set(codes))[:3])]
    resub.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    written.append(resub)
    # 3. the same bytes sent twice under another name
    first = sorted(out_dir.glob(f"{units[-1]}_*.csv"))
    if first:
        copy = out_dir / f"copy_of_{first[0].name}"
        copy.write_bytes(first[0].read_bytes())
        written.append(copy)
    # 4. an empty upload, a file that is not a form, and a truncated workbook
    (out_dir / "empty_upload.csv").write_bytes(b"")
    (out_dir / "meeting_minutes.docx").write_bytes(b"PK\x03\x04 not a form")
    (out_dir / "truncated_form.xlsx").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00broken")
    written += [
        out_dir / "empty_upload.csv",
        out_dir / "meeting_minutes.docx",
        out_dir / "truncated_form.xlsx",
    ]
    return written
