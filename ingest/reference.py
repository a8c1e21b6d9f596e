"""The reference data that ingest checks rows against, read from the dbt seeds (one source of truth).

The seeds in ``dbt_project/seeds/reference`` are the reform's domain model (regions, indicators,
reporting units, …). dbt loads them into the warehouse; ingest reads the same CSV files so that a row
naming an unknown indicator, unit or region is quarantined at the door, with a reason.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ingest.config import SEEDS_DIR
from ingest.normalize import to_halfwidth

CALENDAR_FIRST_YEAR = 2016
CALENDAR_LAST_YEAR = 2035


def read_seed(name: str, seeds_dir: Path = SEEDS_DIR) -> list[dict[str, str]]:
    with (seeds_dir / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class Indicator:
    code: str
    name_zh: str
    unit: str
    kind: str


@dataclass(frozen=True)
class Reference:
    """Lookups ingest needs, built once per process."""

    indicators: dict[str, Indicator]
    indicator_names: dict[str, str]  # normalised Chinese or English name → code
    units: dict[str, str]  # reporting unit code → its region code
    regions: set[str]
    first_year: int = CALENDAR_FIRST_YEAR
    last_year: int = CALENDAR_LAST_YEAR

    def indicator_for(self, code: str, name: str) -> Indicator | None:
        """Find an indicator by its code, else by its catalog name (Chinese or English)."""
        if code:
            return self.indicators.get(code.strip().lower())
        found = self.indicator_names.get(name_key(name))
        return self.indicators.get(found) if found else None


def name_key(name: str) -> str:
    return "".join(to_halfwidth(name).lower().split())


def load_reference(seeds_dir: Path = SEEDS_DIR) -> Reference:
    return _load_reference(str(seeds_dir))


@lru_cache(maxsize=4)
def _load_reference(seeds_dir: str) -> Reference:
    folder = Path(seeds_dir)
    indicators = {
        row["indicator_code"]: Indicator(row["indicator_code"], row["name_zh"], row["unit"], row["kind"])
        for row in read_seed("indicators", folder)
    }
    names: dict[str, str] = {}
    for row in read_seed("indicators", folder):
        for label in (row["name_zh"], row["name_en"]):
            if label:
                names.setdefault(name_key(label), row["indicator_code"])
    units = {row["unit_code"]: row["region_code"] for row in read_seed("reporting_units", folder)}
    regions = {row["region_code"] for row in read_seed("regions", folder) if not row.get("valid_to")}
    return Reference(indicators, names, units, regions)
