"""Deterministic benchmark data at any scale: a province's unit register, its units' monthly forms as
the reporting portal exports them (CSV), and the statistical microdata.

The documents name 37 reporting units; a province that runs the monitoring system registers about a
thousand (every county bureau, union and large enterprise that reports). :func:`generate_portal`
writes such a register (``register/reporting_units.csv`` and ``register/reporting_obligations.csv``,
the columns of the dbt seeds, loaded with ``reform register``) and, under ``inbox/``, the forms in the
portal's CSV layout:

- the monthly return (月报): every catalog indicator, every month (the bulk of the rows);
- the forms that fulfil the register's obligations: each indicator at its catalog periodicity
  (annual, half-year, quarterly), heading for the targets of the unit's region, so that target
  progress and completeness have something to measure;

with what real inboxes have at realistic rates:

- resubmissions (``<unit>_<period>_v2.csv``, dated a few days later, a few values corrected): 2 %;
- forms never sent (completeness has something to find): 3 %;
- masked cells (``*``, ``(略)``, ``—``): 1 %; thousands separators (``"1,234"``): 5 %;
- bad rows (an unknown indicator code, text in the value): 0.2 %, quarantined by ingest.

Values come from the same functions as the demo's (:func:`ingest.generate._value`), parts never
exceed their wholes and rates stay within 0–100. Microdata comes from
:func:`ingest.generate_microdata.generate_microdata` at the same scale. The same seed always writes
the same bytes.

=========  =====  ==========  ======  ===========  ===========  ========  ==============  ======
scale      units  indicators  months  enterprises  workers      training  certifications  survey
=========  =====  ==========  ======  ===========  ===========  ========  ==============  ======
small         20  all (148)       12           60        2,000     1,500             800     600
city         100  all             24        2,000      100,000    60,000          30,000   5,000
province   1,000  all             60    1,000,000   10,000,000  30,000,000     5,000,000  50,000
=========  =====  ==========  ======  ===========  ===========  ========  ==============  ======
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from ingest.config import SEEDS_DIR
from ingest.generate import (
    Obligation,
    Plan,
    _parts_within_wholes,
    _period_labels,
    _plan,
    _value,
    stated_targets,
)
from ingest.normalize import period_bounds
from ingest.reference import OBLIGATION_COLUMNS, UNIT_COLUMNS, read_seed


@dataclass(frozen=True)
class PortalScale:
    units: int
    months: int  # the last N months up to December of LAST_YEAR
    microdata: str  # the generate_microdata scale


SCALES = {
    "small": PortalScale(units=20, months=12, microdata="small"),
    "city": PortalScale(units=100, months=24, microdata="city"),
    "province": PortalScale(units=1_000, months=60, microdata="province"),
}
LAST_YEAR = 2025
PROVINCE = "53"  # Yunnan: the province whose regions the documents list down to counties
DUE_DAYS = {"month": 15, "quarter": 20, "half_year": 30, "annual": 60}  # days after the period ends
RESUBMITTED_SHARE = 0.02
MISSING_SHARE = 0.03
MASKED_SHARE = 0.01
THOUSANDS_SHARE = 0.05
BAD_ROW_SHARE = 0.002
HEADER = ["单位代码", "报告期", "指标代码", "指标名称", "数值", "计量单位", "备注", "填报日期"]
NO_TARGET = Plan(None, False, 1, 1.0)


def months(count: int, last_year: int = LAST_YEAR) -> list[tuple[str, str]]:
    """(canonical id, how the portal writes it) of the last ``count`` months up to December of ``last_year``."""
    labels = [
        (f"{y}-M{m:02d}", f"{y}年{m}月")
        for y in range(last_year - (count + 11) // 12 + 1, last_year + 1)
        for m in range(1, 13)
    ]
    return labels[-count:]


def register_units(count: int, seeds_dir: Path = SEEDS_DIR) -> list[dict[str, str]]:
    """``count`` reporting units spread over the province's current prefectures and counties."""
    regions = [
        row
        for row in read_seed("regions", seeds_dir)
        if row["region_code"].startswith(PROVINCE) and row["level"] in ("prefecture", "county") and not row["valid_to"]
    ]
    units = []
    for index in range(count):
        region = regions[index % len(regions)]
        number = index // len(regions) + 1
        units.append(
            {
                "unit_code": f"{region['region_code']}-P{number:03d}",
                "name_zh": f"{region['name_zh']}产业工人队伍建设改革监测点{number}",
                "name_en": f"{region['name_en']} monitoring point {number}",
                "kind": "other",
                "region_code": region["region_code"],
            }
        )
    return units


def generate_portal(
    out_dir: Path,
    scale: str = "small",
    seed: int = 20251,
    seeds_dir: Path = SEEDS_DIR,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[Path]]:
    """Write ``out_dir/register/*.csv``, ``out_dir/inbox/<unit>_<period>[_v2].csv`` and
    ``out_dir/inbox/microdata/<kind>/*.csv``; returns the files written by part."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    size = SCALES[scale]
    say = progress or (lambda _message: None)
    rng = random.Random(seed)
    indicators = sorted(read_seed("indicators", seeds_dir), key=lambda row: row["indicator_code"])
    by_code = {row["indicator_code"]: row for row in indicators}
    units = register_units(size.units, seeds_dir)
    periods = months(size.months)
    years = sorted({int(period_id[:4]) for period_id, _ in periods})
    targets = stated_targets(seeds_dir)
    per_region = Counter(u["region_code"] for u in units)
    parents = {row["region_code"]: row["parent_code"] for row in read_seed("regions", seeds_dir)}

    register = out_dir / "register"
    register.mkdir(parents=True, exist_ok=True)
    _write_csv(register / "reporting_units.csv", UNIT_COLUMNS, [[u[c] for c in UNIT_COLUMNS] for u in units])
    _write_csv(
        register / "reporting_obligations.csv",
        OBLIGATION_COLUMNS,
        [
            [u["unit_code"], i["indicator_code"], i["periodicity"], years[0], LAST_YEAR, DUE_DAYS[i["periodicity"]]]
            for u in units
            for i in indicators
        ],
    )
    inbox = out_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    forms: list[Path] = []

    def send(unit: dict[str, str], period_id: str, label: str, rows: list[list[str]], due_days: int) -> None:
        """Masked cells, thousands separators, a bad row now and then; never sent, or sent twice."""
        _parts_within_wholes(rows, by_code, rng)
        for row in rows:
            roll = rng.random()
            if roll < MASKED_SHARE:
                row[2] = rng.choice(("*", "(略)", "—"))
            elif roll < MASKED_SHARE + THOUSANDS_SHARE and "." not in row[2] and int(row[2]) >= 1000:
                row[2] = f"{int(row[2]):,}"
        if rng.random() < BAD_ROW_SHARE * len(rows):
            unknown = ["no_such_indicator", "不存在的指标", "12", "个", ""]
            bad = rng.choice((unknown, [*rows[0][:2], "约一百", *rows[0][3:]]))
            rows.insert(rng.randrange(len(rows) + 1), bad)
        late = rng.random() < 0.15
        days = due_days + rng.randint(1, 30) if late else rng.randint(2, due_days)
        filled_on = period_bounds(period_id)[1] + timedelta(days=days)
        if rng.random() < MISSING_SHARE:
            return
        name = f"{unit['unit_code']}_{period_id}"
        forms.append(_write_form(inbox / f"{name}.csv", unit["unit_code"], label, rows, filled_on))
        if rng.random() < RESUBMITTED_SHARE:
            corrected = [list(row) for row in rows]
            for row in rng.sample(corrected, min(3, len(corrected))):
                if row[2].replace(",", "").isdigit():
                    row[2] = str(int(row[2].replace(",", "")) + rng.randint(1, 9))
            later = filled_on + timedelta(days=rng.randint(3, 10))
            forms.append(_write_form(inbox / f"{name}_v2.csv", unit["unit_code"], label, corrected, later))

    for number, unit in enumerate(units, start=1):
        base = 50 + rng.random() * 950
        region = unit["region_code"]
        # the monthly return (月报): every indicator, every month
        for step, (period_id, label) in enumerate(periods):
            rows = [
                [i["indicator_code"], i["name_zh"], _value(rng, i, NO_TARGET, base, step), i["unit"], ""]
                for i in indicators
            ]
            send(unit, period_id, label, rows, DUE_DAYS["month"])
        # the obligations: each indicator at its catalog periodicity, heading for the region's target
        plans = {}
        for i in indicators:
            target, share = targets.get((i["indicator_code"], region)), 1 / per_region[region]
            if target is None and region in parents:
                target = targets.get((i["indicator_code"], parents[region]))
                share /= max(1, sum(1 for r in per_region if parents.get(r) == parents[region]))
            obligation = Obligation(unit["unit_code"], i["indicator_code"], i["periodicity"], years[0], LAST_YEAR, 0)
            plans[i["indicator_code"]] = _plan(obligation, i, target, share)
        for periodicity in ("annual", "half_year", "quarter"):
            owed = [i for i in indicators if i["periodicity"] == periodicity]
            for step, (period_id, label) in enumerate(_period_labels(periodicity, tuple(years)) if owed else []):
                rows = [
                    [
                        i["indicator_code"],
                        i["name_zh"],
                        _value(rng, i, plans[i["indicator_code"]], base, step),
                        i["unit"],
                        "",
                    ]
                    for i in owed
                ]
                send(unit, period_id, label, rows, DUE_DAYS[periodicity])
        if number % 50 == 0 or number == len(units):
            say(f"forms: {number}/{len(units)} units, {len(forms):,} files")
    from ingest.generate_microdata import generate_microdata

    say(f"microdata at {size.microdata} scale")
    microdata = generate_microdata(inbox / "microdata", scale=size.microdata, seed=seed, seeds_dir=seeds_dir)
    return {"register": sorted(register.glob("*.csv")), "forms": forms, "microdata": microdata}


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_form(path: Path, unit_code: str, label: str, rows: list[list[str]], filled_on: date) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    stamp = filled_on.isoformat()
    writer.writerows([unit_code, label, *row, stamp] for row in rows)
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    return path
