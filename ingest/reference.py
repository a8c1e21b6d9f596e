"""The reference data that ingest checks rows against, read from the dbt seeds (one source of truth).

The seeds in ``dbt_project/seeds/reference`` are the reform's domain model (regions, indicators,
reporting units, …). dbt loads them into the warehouse; ingest reads the same CSV files so that a row
naming an unknown indicator, unit or region is quarantined at the door, with a reason.

The documents name 37 reporting units. A province registers the others it monitors with
``reform register`` (:func:`register`): two CSV files in the seeds' columns, checked whole, archived,
and kept in the lake as one snapshot that ingest and every build read beside the seeds.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from ingest import lake as lake_files
from ingest.config import SEEDS_DIR, Paths
from ingest.normalize import to_halfwidth

log = logging.getLogger(__name__)

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


def load_reference(seeds_dir: Path = SEEDS_DIR, lake: Path | None = None) -> Reference:
    """The seeds' reference data plus the units registered in ``lake`` (default: ``REFORM_LAKE``)."""
    base = _load_reference(str(seeds_dir))
    snapshot = lake_files.register_snapshot(lake or Paths.from_env().lake, "units")
    if not snapshot.exists():
        return base
    key = (str(seeds_dir), str(snapshot), snapshot.stat().st_mtime_ns)
    if key not in _WITH_REGISTER:
        registered = lake_files.read_register_units(snapshot.parent.parent.parent)
        _WITH_REGISTER.clear()
        _WITH_REGISTER[key] = replace(base, units={**registered, **base.units})
    return _WITH_REGISTER[key]


_WITH_REGISTER: dict[tuple[str, str, int], Reference] = {}


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


class RegisterError(ValueError):
    """The register files have mistakes; nothing was registered. The message lists them by row."""


PERIODICITIES = ("annual", "half_year", "quarter", "month")
REGISTER_FILES = {"units": "reporting_units.csv", "obligations": "reporting_obligations.csv"}
MAX_LISTED_ERRORS = 20
UNIT_COLUMNS = ("unit_code", "name_zh", "name_en", "kind", "region_code")
OBLIGATION_COLUMNS = (
    "unit_code",
    "indicator_code",
    "periodicity",
    "first_year",
    "last_year",
    "due_days_after_period_end",
)


def read_register(folder: Path, seeds_dir: Path = SEEDS_DIR) -> tuple[list[dict], list[dict]]:
    """Read and check ``folder/reporting_units.csv`` and ``folder/reporting_obligations.csv`` (the seeds'
    columns). Returns (units, obligations) typed for the lake; raises :class:`RegisterError` listing
    every mistake (unknown region or indicator, duplicate codes, a unit the documents already name …)."""
    if not folder.is_dir():
        raise RegisterError(
            f"{folder} is not a folder: give the folder that holds {' and '.join(REGISTER_FILES.values())}"
        )
    base = _load_reference(str(seeds_dir))
    errors: list[str] = []
    tables = {}
    for part, name in REGISTER_FILES.items():
        path = folder / name
        if not path.exists():
            raise RegisterError(f"{path} is missing: a register is two files, {' and '.join(REGISTER_FILES.values())}")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            required = UNIT_COLUMNS if part == "units" else OBLIGATION_COLUMNS
            missing = [column for column in required if column not in (reader.fieldnames or [])]
            if missing:
                raise RegisterError(f"{path.name} lacks the column(s) {', '.join(missing)}")
            tables[part] = list(reader)
    units: list[dict] = []
    seen: set[str] = set()
    for line, row in enumerate(tables["units"], start=2):
        code = to_halfwidth(row["unit_code"]).strip().upper()
        where = f"{REGISTER_FILES['units']} row {line}"
        if not code:
            errors.append(f"{where}: the unit code is empty")
        elif code in base.units:
            errors.append(f"{where}: {code} is a unit the documents name (it is in the seeds); register only new units")
        elif code in seen:
            errors.append(f"{where}: {code} appears twice")
        if row["region_code"] not in base.regions:
            errors.append(f"{where}: region {row['region_code']!r} is not a current region code (regions seed)")
        seen.add(code)
        units.append({**{k: row[k] for k in ("name_zh", "name_en", "kind", "region_code")}, "unit_code": code})
    region_of = {u["unit_code"]: u["region_code"] for u in units}
    obligations: list[dict] = []
    pairs: set[tuple[str, str]] = set()
    for line, row in enumerate(tables["obligations"], start=2):
        where = f"{REGISTER_FILES['obligations']} row {line}"
        code = to_halfwidth(row["unit_code"]).strip().upper()
        indicator = row["indicator_code"].strip().lower()
        if code not in region_of:
            errors.append(f"{where}: unit {code!r} is not in {REGISTER_FILES['units']}")
        if indicator not in base.indicators:
            errors.append(f"{where}: indicator {indicator!r} is not in the catalog (indicators seed)")
        if row["periodicity"] not in PERIODICITIES:
            errors.append(f"{where}: periodicity {row['periodicity']!r} is not one of {', '.join(PERIODICITIES)}")
        if (code, indicator) in pairs:
            errors.append(f"{where}: {code} owes {indicator} twice")
        pairs.add((code, indicator))
        try:
            first, last, due = (int(row[k]) for k in ("first_year", "last_year", "due_days_after_period_end"))
        except ValueError:
            errors.append(f"{where}: first_year, last_year and due_days_after_period_end must be whole numbers")
            continue
        if not CALENDAR_FIRST_YEAR <= first <= last <= CALENDAR_LAST_YEAR or due < 0:
            errors.append(
                f"{where}: the years must satisfy {CALENDAR_FIRST_YEAR} ≤ first_year ≤ last_year ≤ "
                f"{CALENDAR_LAST_YEAR} and the due days must not be negative"
            )
        obligations.append(
            {
                "unit_code": code,
                "indicator_code": indicator,
                "periodicity": row["periodicity"],
                "first_year": first,
                "last_year": last,
                "due_days_after_period_end": due,
                "region_code": region_of.get(code),
            }
        )
    if errors:
        listed = "\n  ".join(errors[:MAX_LISTED_ERRORS])
        more = f"\n  … and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
        raise RegisterError(f"the register has {len(errors)} mistake(s); nothing was registered:\n  {listed}{more}")
    return units, obligations


def register(folder: Path, paths: Paths, seeds_dir: Path = SEEDS_DIR) -> tuple[int, int, bool]:
    """Check the register in ``folder``, archive its two files and make it the lake's register snapshot.
    Returns (units, obligations) registered and whether a register was replaced."""
    import hashlib

    from ingest.intake import archive  # here: intake imports this module

    units, obligations = read_register(folder, seeds_dir)
    paths.ensure()
    digest = hashlib.sha256()
    for name in REGISTER_FILES.values():
        digest.update((folder / name).read_bytes())
    sha = digest.hexdigest()
    for part, name in REGISTER_FILES.items():
        archive(folder / name, sha, f"-register-{part}.csv", paths)  # renamed into place: never half a copy
    for row in (*units, *obligations):
        row["registered_from"] = sha
    # the obligations are written last: they exist once a register was written whole
    replaced = lake_files.register_snapshot(paths.lake, "obligations").exists()
    lake_files.write_register(paths.lake, units, obligations, sha)
    return len(units), len(obligations), replaced


def finish_interrupted_register(paths: Paths, seeds_dir: Path = SEEDS_DIR) -> str | None:
    """Write again, from its archived files, a register whose write was killed midway (its units beside
    the previous register's obligations: every build would fail on them). Called before a build reads
    the lake. Returns the register's sha256, or None when none was interrupted."""
    import shutil
    import tempfile

    sha = lake_files.interrupted_register(paths.lake)
    if sha is None:
        return None
    archived = {part: paths.archive / f"{sha}-register-{part}.csv" for part in REGISTER_FILES}
    if not all(path.exists() for path in archived.values()):
        raise RegisterError(
            f"the register {sha[:12]} was being written when it stopped, and its archived files are missing; "
            "run `reform register DIR` again with the register's folder."
        )
    log.warning("writing again the register %s, whose write was interrupted", sha[:12])
    with tempfile.TemporaryDirectory(prefix="reform-register-") as folder:
        for part, name in REGISTER_FILES.items():
            shutil.copyfile(archived[part], Path(folder) / name)
        register(Path(folder), paths, seeds_dir)
    return sha
