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
from datetime import date, timedelta
from pathlib import Path

from ingest.config import SEEDS_DIR
from ingest.forms import write_form
from ingest.normalize import period_bounds
from ingest.reference import read_seed

SCALES = {
    # scale → (number of reporting units, the last N years of each obligation's window)
    "small": (12, 5),
    "city": (60, 5),
}
MISSING_SHARE = 0.05  # submissions a unit never sent, so completeness has something to find

HEADERS_ZH = {
    "unit": "单位代码",
    "period": "报告期",
    "code": "指标代码",
    "name": "指标名称",
    "value": "数值",
    "uom": "计量单位",
    "note": "备注",
    "filled": "填报日期",
}
HEADERS_EN = {
    "unit": "unit_code",
    "period": "period",
    "code": "indicator_code",
    "name": "indicator_name",
    "value": "value",
    "uom": "unit",
    "note": "note",
    "filled": "filled_on",
}


@dataclass(frozen=True)
class Obligation:
    unit_code: str
    indicator_code: str
    periodicity: str
    first_year: int
    last_year: int
    due_days: int

    def years(self, count: int) -> tuple[int, ...]:
        """The last ``count`` years of the obligation's window."""
        return tuple(range(max(self.first_year, self.last_year - count + 1), self.last_year + 1))


def _period_labels(periodicity: str, years: tuple[int, ...]) -> list[tuple[str, str]]:
    """(canonical id, how a clerk writes it) for every period of the years."""
    labels: list[tuple[str, str]] = []
    cn = "一二三四"
    for year in years:
        if periodicity == "annual":
            labels.append((f"{year}", f"{year}年"))
        elif periodicity == "half_year":
            labels += [(f"{year}-S1", f"{year}年上半年"), (f"{year}-S2", f"{year}年下半年")]
        elif periodicity == "quarter":
            labels += [(f"{year}-Q{q}", f"{year}年第{cn[q - 1]}季度") for q in range(1, 5)]
        elif periodicity == "month":
            labels += [(f"{year}-M{m:02d}", f"{year}年{m}月") for m in range(1, 13)]
    return labels


def _filled_on(rng: random.Random, period_id: str, due_days: int) -> date:
    """When the clerk dated the form: mostly before the due date, sometimes weeks late."""
    end = period_bounds(period_id)[1]
    late = rng.random() < 0.2
    return end + timedelta(days=due_days + rng.randint(1, 40) if late else rng.randint(2, max(3, due_days)))


PERIODS_PER_YEAR = {"annual": 1, "half_year": 2, "quarter": 4, "month": 12}
_FLOW_WORDS = ("累计", "新增", "新培育", "新选树", "选树", "培训", "不少于")


@dataclass(frozen=True)
class Plan:
    """What a unit's values of one indicator aim at: a stated target (scaled to the unit) or none."""

    target: float | None
    is_flow: bool  # the target is a total of period values over the plan (累计/新增 …), not a level
    periods: int  # periods from the plan start to the deadline
    factor: float  # how well this unit performs: 0.8 (behind) … 1.3 (well ahead)


def _plan(obligation: Obligation, indicator: dict[str, str], target: dict[str, str] | None, share: float) -> Plan:
    factor = 0.8 + 0.5 * (zlib.crc32(f"{obligation.unit_code}/{obligation.indicator_code}".encode()) % 1000) / 1000
    if target is None or not target["target_value"]:
        return Plan(None, False, 1, factor)
    text = target["source_quote"] + target["value_text"] + indicator["name_zh"]
    is_flow = indicator["kind"] == "cumulative_count" or any(word in text for word in _FLOW_WORDS)
    deadline = int(target["deadline_year"] or obligation.last_year)
    periods = max(1, deadline - obligation.first_year + 1) * PERIODS_PER_YEAR.get(obligation.periodicity, 1)
    value = float(target["target_value"]) * (1 if indicator["unit"] == "%" else share)
    return Plan(value, is_flow, periods, factor)


def _value(rng: random.Random, indicator: dict[str, str], plan: Plan, base: float, step: int) -> str:
    """One period's value: near the plan's pace where a target is stated, plausible noise elsewhere."""
    kind, unit = indicator["kind"], indicator["unit"]
    noise = 0.9 + rng.random() * 0.2
    if unit == "%" or kind == "rate":
        level = plan.target * min(1.1, plan.factor) if plan.target is not None else 55 + 40 * rng.random()
        return f"{min(100.0, level * (0.97 + 0.06 * rng.random())):.1f}"
    if plan.target is not None and plan.is_flow:
        flow = plan.target / plan.periods * plan.factor * noise
        return f"{flow:.0f}" if flow >= 10 else str(int(flow) + (rng.random() < flow - int(flow)))
    if plan.target is not None:  # a level to reach by the deadline: approach it
        progress = min(1.0, (step + 1) / plan.periods)
        return f"{plan.target * plan.factor * (0.7 + 0.3 * progress) * noise:.0f}"
    if kind == "amount" or unit == "元":
        return f"{base * (500 + rng.random() * 1500) * (1 + 0.02 * step):.0f}"
    return f"{max(0, round(base * (1 + 0.02 * step) * noise))}"


def _depth(code: str, indicators: dict[str, dict[str, str]]) -> int:
    depth, seen = 0, {code}
    while (parent := indicators[code].get("parent_code")) and parent in indicators and parent not in seen:
        depth, code = depth + 1, parent
        seen.add(code)
    return depth


def _parts_within_wholes(
    rows: list[list[str]],
    indicators: dict[str, dict[str, str]],
    rng: random.Random,
    ratio_targets: dict[str, tuple[str, float]] | None = None,
) -> None:
    """Make every part a share of its whole (high-skill talents ≤ skill talents, …), wholes first.

    A part that is the numerator of a rate with a stated target (``ratio_targets``: numerator →
    (denominator, target %)) lands near that target, so the recomputed rate is plausible.
    """
    values = {row[0]: row for row in rows}
    for row in sorted(rows, key=lambda r: _depth(r[0], indicators)):
        ratio = (ratio_targets or {}).get(row[0])
        whole = ratio[0] if ratio else indicators[row[0]].get("parent_code")
        if whole in values and values[whole][2].replace(".", "", 1).isdigit():
            steady = (zlib.crc32(row[0].encode()) % 1000) / 1000  # steady per indicator
            share = min(1.0, ratio[1] / 100 * (0.85 + 0.3 * steady)) if ratio else 0.3 + 0.6 * steady
            row[2] = f"{round(float(values[whole][2]) * share * (0.97 + 0.03 * rng.random()))}"


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


def stated_targets(seeds_dir: Path = SEEDS_DIR) -> dict[tuple[str, str], dict[str, str]]:
    """(indicator, region) → the first stated target with a value: what the sample units head for."""
    targets: dict[tuple[str, str], dict[str, str]] = {}
    for row in read_seed("targets", seeds_dir):
        if row["status"] == "normal" and row["target_value"]:
            targets.setdefault((row["indicator_code"], row["region_code"]), row)
    return targets


def load_obligations(seeds_dir: Path = SEEDS_DIR) -> list[Obligation]:
    return [
        Obligation(
            row["unit_code"],
            row["indicator_code"],
            row["periodicity"],
            int(row["first_year"]),
            int(row["last_year"]),
            int(row["due_days_after_period_end"]),
        )
        for row in read_seed("reporting_obligations", seeds_dir)
    ]


def generate(out_dir: Path, scale: str = "small", seed: int = 20251, seeds_dir: Path = SEEDS_DIR) -> list[Path]:
    """Write a sample inbox to ``out_dir``; returns the files written."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    n_units, n_years = SCALES[scale]
    rng = random.Random(seed)
    indicators = {row["indicator_code"]: row for row in read_seed("indicators", seeds_dir)}
    units = {row["unit_code"]: row for row in read_seed("reporting_units", seeds_dir)}
    targets = stated_targets(seeds_dir)
    counties = defaultdict(int)
    for row in read_seed("regions", seeds_dir):
        if row["level"] == "county" and not row.get("valid_to"):
            counties[row["parent_code"]] += 1
    parents = {row["region_code"]: row["parent_code"] for row in read_seed("regions", seeds_dir)}
    ratio_targets = {
        row["numerator_code"]: (row["denominator_code"], float(target["target_value"]))
        for row in indicators.values()
        if row["aggregation"] == "ratio"
        for key, target in targets.items()
        if key[0] == row["indicator_code"] and row["numerator_code"] and row["denominator_code"]
    }
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
        due_days: dict[str, int] = {}
        region = units[unit_code]["region_code"]
        for obligation in by_unit[unit_code]:
            indicator = indicators[obligation.indicator_code]
            # a county reports its share of the city's target
            target = targets.get((obligation.indicator_code, region))
            share = 1.0
            if target is None and region in parents:
                target = targets.get((obligation.indicator_code, parents[region]))
                share = 1 / max(1, counties[parents[region]])
            plan = _plan(obligation, indicator, target, share)
            labels = _period_labels(obligation.periodicity, obligation.years(n_years))
            offset = (obligation.years(n_years)[0] - obligation.first_year) * PERIODS_PER_YEAR.get(
                obligation.periodicity, 1
            )
            for step, (period_id, label) in enumerate(labels):
                due_days[period_id] = max(due_days.get(period_id, 0), obligation.due_days)
                files[(period_id, label)].append(
                    [
                        obligation.indicator_code,
                        indicator["name_zh"],
                        _value(rng, indicator, plan, base, offset + step),
                        indicator["unit"],
                        "",
                    ]
                )
        ordered = sorted(files.items())
        for (_, _label), rows in ordered:
            _parts_within_wholes(rows, indicators, rng, ratio_targets)
        if unit_index == 0:
            _inject_outlier(ordered, indicators)
        for file_index, ((period_id, label), rows) in enumerate(ordered):
            style = styles[(unit_index + file_index) % len(styles)]
            if rng.random() < 0.08 and rows:
                rows[rng.randrange(len(rows))][2] = rng.choice(["*", "(略)", "—"])
            filled_on = _filled_on(rng, period_id, due_days[period_id])
            if rng.random() < MISSING_SHARE or (unit_index == 1 and file_index == len(ordered) - 1):
                continue  # never sent: the unit is late, and completeness reports it
            name = f"{unit_code}_{period_id}"
            written.append(
                _write(out_dir, name, style, units[unit_code], label, rows, filled_on, english=(file_index % 4 == 3))
            )
    written += _special_files(out_dir, chosen, by_unit, indicators, rng)
    return written


def _write(
    out_dir: Path,
    name: str,
    style: str,
    unit: dict[str, str],
    period_label: str,
    rows: list[list[str]],
    filled_on: date,
    english: bool = False,
) -> Path:
    unit_code = unit["unit_code"]
    headers = HEADERS_EN if english else HEADERS_ZH
    columns = ["unit", "period", "code", "name", "value", "uom", "note", "filled"]
    if english:  # another system, another column order
        columns = ["code", "value", "uom", "unit", "period", "name", "note", "filled"]
    records = [dict(zip(["code", "name", "value", "uom", "note"], row, strict=True)) for row in rows]
    for record in records:
        record.update(unit=unit_code, period=period_label, filled=filled_on.isoformat())
    if style == "json":
        path = out_dir / f"{name}.json"
        payload = {
            "metadata": {
                "单位代码": unit_code,
                "报告期": period_label,
                "填报日期": filled_on.isoformat(),
                "system": "online-reporting",
            },
            "records": [{headers[c]: r[c] for c in columns if c != "filled"} for r in records],
        }
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        return path
    if style == "xlsx":
        return write_form(
            out_dir / f"{name}.xlsx", unit_code, unit["name_zh"], period_label, records, filled_on.isoformat()
        )
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
    # the first unit with a quarterly obligation, in the last year it reports
    unit, quarterly = next(
        (
            (u, [o for o in by_unit[u] if o.periodicity == "quarter"])
            for u in units
            if any(o.periodicity == "quarter" for o in by_unit[u])
        ),
        (units[0], by_unit[units[0]]),
    )
    year = max(o.last_year for o in quarterly)
    codes = [o.indicator_code for o in quarterly]
    code = codes[0]
    name = indicators[code]["name_zh"]
    uom = indicators[code]["unit"]
    # 1. a form with bad rows: unknown indicator, text in a value, an impossible period, a duplicate
    q2 = f"{year}年第二季度"
    bad_rows = [
        ["单位代码", "报告期", "指标代码", "指标名称", "数值", "计量单位", "备注"],
        [unit, q2, code, name, "１，２３４", uom, "全角数字"],
        [unit, q2, "no_such_indicator", "不存在的指标", "12", "个", ""],
        [unit, q2, code, name, "约一百", uom, "文字"],
        [unit, f"{year}年13月", code, name, "10", uom, ""],
        [unit, q2, code, name, "1234", uom, "重复行"],
        ["合计", "", "", "", "", "", ""],
    ]
    path = out_dir / f"{unit}_corrections_needed.csv"
    path.write_bytes("\r\n".join(",".join(row) for row in bad_rows).encode("utf-8-sig"))
    written.append(path)
    # 2. a resubmission: the same unit and period again, one value corrected
    resub = out_dir / f"{unit}_{year}-Q1_resubmission.csv"
    rows = [["单位代码", "报告期", "指标代码", "数值", "备注"]]
    rows += [[unit, f"{year}Q1", c, str(100 + i), "更正"] for i, c in enumerate(sorted(set(codes))[:3])]
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
