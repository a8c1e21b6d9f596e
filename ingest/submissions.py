"""Unit submissions (单位报送): reader tables → canonical observation rows or quarantine records.

Pure: takes :class:`~ingest.readers.RawTable` objects and the reference data, returns rows. Every data
row ends up either accepted or quarantined with a reason code and a message a clerk understands, so
that for every file ``received = accepted + quarantined``. Structural rows (blank, 合计 totals, notes
under the table) are counted as skipped; the original file is archived untouched, so nothing is lost.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from ingest.normalize import (
    NormalizationError,
    convert_to_catalog_unit,
    header_unit,
    parse_period,
    parse_value,
    period_year,
    to_halfwidth,
)
from ingest.readers import RawRow, RawTable
from ingest.reference import Reference

# canonical field → header spellings seen on forms (compared after full-width→half-width, lowercase,
# whitespace and a trailing "(unit)" removed)
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "reporting_unit_code": (
        "单位代码",
        "填报单位代码",
        "报送单位代码",
        "unit_code",
        "reporting_unit_code",
        "reporting_unit",
    ),
    "region_code": ("行政区划代码", "地区代码", "区划代码", "region_code", "region"),
    "period": ("报告期", "统计期", "统计期间", "期别", "period", "period_id", "reporting_period"),
    "indicator_code": ("指标代码", "指标编码", "代码", "indicator_code", "code"),
    "indicator_name": ("指标名称", "指标", "名称", "indicator_name", "indicator", "name"),
    "value": ("数值", "本期数", "指标值", "本期", "值", "value", "obs_value"),
    "unit": ("计量单位", "单位", "unit_of_measure", "uom", "unit_measure", "unit"),
    "obs_status": ("状态", "数据状态", "obs_status", "status"),
    "note": ("备注", "说明", "note", "notes", "comment"),
    "filled_on": ("填报日期", "填表日期", "filled_on", "report_date"),
}
_ALIAS_LOOKUP = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
_TOTAL_ROW = re.compile(r"^(合\s*计|总\s*计|小\s*计|total)", re.IGNORECASE)
# notes under a table, and the signature block of a form (填报人：李小明 电话：138…): skipped, never stored
_NOTE_ROW = re.compile(
    r"^(注|说明|备注|填表说明|填表人|填报人|制表人|审核人|复核人|经办人|联系人|负责人|单位负责人|统计负责人"
    r"|联系电话|电话|手机|note)[:：\s]",
    re.IGNORECASE,
)
# personal data in free text, half- or full-width: a resident ID number (18 characters, or written in
# groups 6-8-4 or 6-12 with spaces or hyphens; 15 digits before 1999), a mainland mobile number, a
# landline with its area code set apart (0888-5123456, (0871)65123456). Never inside a longer run of
# digits; letters around it do not matter (ID530702…, No.530702…号)
_DIGIT = "[0-9０-９]"
_CHECK = "[0-9０-９XxＸｘ]"
_ID_NUMBER = re.compile(
    rf"(?<![0-9０-９])(?:{_DIGIT}{{17}}{_CHECK}|{_DIGIT}{{6}}[-\s]{_DIGIT}{{8}}[-\s]{_DIGIT}{{3}}{_CHECK}"
    rf"|{_DIGIT}{{6}}[-\s]{_DIGIT}{{11}}{_CHECK}|{_DIGIT}{{15}})(?![0-9０-９])"
)
_ID_TOKEN = re.compile(r"(<id:[0-9a-f]{32}>)")  # what _ID_NUMBER's match is replaced by (make_pseudonymiser)
_SHORTEST_PERSONAL = 11  # characters: a mobile number (13800001111) or a landline (010-1234567); IDs are longer
_MOBILE_NUMBER = re.compile(
    r"(?<![0-9０-９])(?:"
    r"(?:[+＋]?86[-\s]?)?[1１][3-9３-９]\d(?:[-－\s]?\d{4}){2}"  # mobile
    r"|(?:[(（][0０]\d{2,3}[)）][-－\s]?|[0０]\d{2,3}[-－\s])\d{7,8}"  # landline
    r")(?![0-9０-９])"
)

CANONICAL_COLUMNS = (
    "reporting_unit_code",
    "region_code",
    "period_id",
    "indicator_code",
    "value",
    "unit",
    "obs_status",
    "note",
    "raw_value",
    "sheet",
    "row_number",
)


@dataclass
class QuarantineRecord:
    sheet: str
    row_number: int
    raw_values: str  # JSON object header → cell text, personal data already scrubbed
    reason_code: str
    message: str


@dataclass
class SubmissionResult:
    rows: list[dict[str, object]] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    skipped: int = 0
    filled_on: str | None = None  # the form's 填报日期 as written, if any

    @property
    def received(self) -> int:
        return len(self.rows) + len(self.quarantine)

    def main_unit_and_period(self) -> tuple[str | None, str | None]:
        """The unit and period most of the accepted rows belong to (what the file "is")."""
        if not self.rows:
            return None, None
        (unit, period), _ = Counter((r["reporting_unit_code"], r["period_id"]) for r in self.rows).most_common(1)[0]
        return str(unit), str(period)


class FileLevelError(Exception):
    """The file was read but is not a submission form (no recognisable header)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@functools.lru_cache(maxsize=16384)
def header_key(text: str) -> str:
    cleaned = to_halfwidth(text).lower()
    cleaned = re.sub(r"[(\[][^()\[\]]*[)\]]\s*$", "", cleaned)  # drop a trailing (万人)
    return re.sub(r"[\s*:：]", "", cleaned)


def map_header(cells: list[str]) -> dict[int, str]:
    """Column index → canonical field, for the cells that are known header spellings."""
    mapping: dict[int, str] = {}
    for index, cell in enumerate(cells):
        name = _ALIAS_LOOKUP.get(header_key(cell))
        if name and name not in mapping.values():
            mapping[index] = name
    return mapping


def find_header(rows: list[RawRow]) -> tuple[int, list[str], dict[int, str]]:
    """Locate the header row (title rows and a metadata block may precede it).

    Handles a two-row header from merged cells (``指标`` above ``代码 | 名称``) by combining the rows.
    Returns (index of the last header row, combined header texts, column mapping).
    """
    best: tuple[int, list[str], dict[int, str]] | None = None
    for index, row in enumerate(rows[:30]):
        mapping = map_header(row.cells)
        if best is None and "value" in mapping.values() and len(mapping) == len(row.cells) >= 2:
            return index, row.cells, mapping  # every cell a known header, none blank: nothing can beat it
        candidates = [(index, row.cells, mapping)]
        if index + 1 < len(rows):  # a merged upper header row combined with the row below
            below = rows[index + 1].cells
            width = max(len(row.cells), len(below))
            upper = _fill_merged([*row.cells, *[""] * (width - len(row.cells))])
            lower = [*below, *[""] * (width - len(below))]
            combined = [_combine(u, lo) for u, lo in zip(upper, lower, strict=True)]
            candidates.append((index + 1, combined, map_header(combined)))
        for candidate in candidates:
            mapping = candidate[2]
            if "value" in mapping.values() and len(mapping) >= 2 and (best is None or len(mapping) > len(best[2])):
                best = candidate
    if best is None:
        raise FileLevelError(
            "no_header",
            "no header row with a value column (数值/value) was found; use the form from `reform template`.",
        )
    return best


@functools.lru_cache(maxsize=4096)  # the first cell repeats (a unit code on every row)
def _is_structural(first_cell: str) -> bool:
    """Whether a row whose first non-blank cell is ``first_cell`` is a 合计 total or a note, not data."""
    first = to_halfwidth(first_cell)
    return not first or bool(_TOTAL_ROW.match(first) or _NOTE_ROW.match(first))


def _skipped(cells: list[str], mapping: dict[int, str], records: bool) -> bool:
    """Whether a row is not data: blank, a 合计 total or a note (its first cell says so, unless that
    cell is the row's own 备注, as in a JSON record written with sorted keys), or only a 备注 cell."""
    for first, cell in enumerate(cells):  # the first filled cell decides (a loop: this runs on every row)
        if cell.strip():
            if mapping.get(first) == "note":
                return not any(c.strip() for c in cells[first + 1 :])
            return not records and _is_structural(cell)
    return True


def _fill_merged(cells: list[str]) -> list[str]:
    """A merged cell is read as its value followed by blanks: carry the value right."""
    filled, last = [], ""
    for cell in cells:
        last = cell if cell.strip() else last
        filled.append(last if not cell.strip() else cell)
    return filled


def _combine(upper: str, lower: str) -> str:
    if not lower.strip():
        return upper
    if not upper.strip():
        return lower
    joined = f"{upper.strip()}{lower.strip()}"
    return joined if header_key(joined) in _ALIAS_LOOKUP else lower


def scrub_personal_data(text: str, pseudonymise) -> str:
    """Replace anything shaped like a resident ID number with its keyed pseudonym (the pseudonym of
    the number written compactly, half-width and upper-case, as the ID columns store it) and a mobile
    or landline phone number with ``<phone>``."""
    if len(text) < _SHORTEST_PERSONAL:  # most notes and values: nothing to look for
        return text
    if "<id:" not in text:
        return _scrub(text, pseudonymise)
    # a text scrubbed before: its pseudonyms (hex, with runs of digits) are kept as they are
    parts = _ID_TOKEN.split(text)  # the tokens are the odd parts
    return "".join(part if i % 2 else _scrub(part, pseudonymise) for i, part in enumerate(parts))


def _scrub(text: str, pseudonymise) -> str:
    text = _ID_NUMBER.sub(lambda m: f"<id:{pseudonymise(_compact_id(m.group(0)))}>", text)
    return _MOBILE_NUMBER.sub("<phone>", text)


def _compact_id(text: str) -> str:
    return re.sub(r"[-\s]", "", to_halfwidth(text)).upper()


def looks_like_id_number(text: str) -> bool:
    """Whether a cell holds nothing but something shaped like a resident ID number."""
    return len(text) >= 15 and bool(_ID_NUMBER.fullmatch(text.strip()))


def process_tables(
    tables: list[RawTable],
    reference: Reference,
    pseudonymise,
) -> SubmissionResult:
    """Turn every sheet of a submission file into canonical rows and quarantine records."""
    result = SubmissionResult()
    seen: dict[tuple[object, ...], int] = {}
    sheets_with_data = 0
    for table in tables:
        if not any(any(c.strip() for c in row.cells) for row in table.rows):
            continue
        try:
            header_index, header, mapping = find_header(table.rows)
        except FileLevelError:
            if len(tables) > 1:  # an instructions sheet beside the form
                result.skipped += sum(1 for row in table.rows if any(c.strip() for c in row.cells))
                continue
            raise
        sheets_with_data += 1
        result.filled_on = result.filled_on or table.metadata.get("填报日期")
        columns = list(mapping.items())
        value_header = header_unit(header[next(i for i, name in columns if name == "value")])
        records = table.sheet == "json"  # a JSON record is a record: no totals, notes or extra cells
        sheet = scrub_personal_data(table.sheet, pseudonymise)  # stored: a sheet named after a worker's ID
        for row in table.rows[header_index + 1 :]:
            cells = [c if c is not None else "" for c in row.cells]
            if _skipped(cells, mapping, records):
                result.skipped += 1  # blank, a 合计 total, a note or a signature line under the table
                continue
            width = len(cells)
            fields = {name: (cells[i] if i < width else "") for i, name in columns}
            result.filled_on = result.filled_on or fields.get("filled_on") or None
            try:
                if table.sheet == "csv" and any(c.strip() for c in cells[len(header) :]):
                    raise NormalizationError(
                        "malformed_row",
                        f"this row has more cells than the header ({len(header)} columns): a number written "
                        "with a thousands separator (1,234) must be in double quotes, or remove the extra cells.",
                    )
                canonical = _canonical_row(fields, table.metadata, reference, value_header)
            except NormalizationError as err:
                raw_values = _raw_values(cells, header, pseudonymise)
                message = scrub_personal_data(str(err), pseudonymise)  # it may quote the cell
                result.quarantine.append(QuarantineRecord(sheet, row.row_number, raw_values, err.reason, message))
                continue
            # all four are strings: _canonical_row refuses a row without any of them
            key = (
                canonical["reporting_unit_code"],
                canonical["region_code"],
                canonical["period_id"],
                canonical["indicator_code"],
            )
            if key in seen:
                result.quarantine.append(
                    QuarantineRecord(
                        sheet,
                        row.row_number,
                        _raw_values(cells, header, pseudonymise),
                        "duplicate_row",
                        f"this indicator was already reported for the same unit, region and period in row "
                        f"{seen[key]}; keep one row per indicator.",
                    )
                )
                continue
            seen[key] = row.row_number
            if canonical["note"] is not None:  # a note is never blank (_canonical_row)
                canonical["note"] = scrub_personal_data(str(canonical["note"]), pseudonymise) or None
            canonical["raw_value"] = scrub_personal_data(fields.get("value", ""), pseudonymise)
            canonical["sheet"] = sheet
            canonical["row_number"] = row.row_number
            result.rows.append(canonical)
    if sheets_with_data == 0:
        raise FileLevelError("no_data", "the file holds no data rows.")
    if not result.received:  # a header (and perhaps notes) only: the unit has not reported
        raise FileLevelError(
            "no_data", "the form has a header row but no data rows under it; fill in the values and send it again."
        )
    return result


def _raw_values(cells: list[str], header: list[str], pseudonymise) -> str:
    """A refused row as the clerk wrote it (ID numbers pseudonymised), keyed by its header."""
    return json.dumps(
        {
            ((header[i] if i < len(header) else "") or f"col{i + 1}"): scrub_personal_data(cells[i], pseudonymise)
            for i in range(len(cells))
            if i < len(header) or cells[i].strip()
        },
        ensure_ascii=False,
    )


def _canonical_row(
    fields: dict[str, str],
    metadata: dict[str, str],
    reference: Reference,
    value_header: tuple[int, str | None],
) -> dict[str, object]:
    indicator = reference.indicator_for(
        to_halfwidth(fields.get("indicator_code", "")), fields.get("indicator_name", "")
    )
    if indicator is None:
        label = fields.get("indicator_code") or fields.get("indicator_name") or "(blank)"
        raise NormalizationError(
            "unknown_indicator", f"the indicator “{label}” is not in the indicator catalog; check its code."
        )

    unit_code = to_halfwidth(fields.get("reporting_unit_code") or metadata.get("单位代码", "")).upper()
    if not unit_code:
        raise NormalizationError("missing_field", "the reporting unit code (单位代码) is missing.")
    if unit_code not in reference.units:
        raise NormalizationError(
            "unknown_unit",
            f"the reporting unit “{unit_code}” is not registered; ask the reform office to add it.",
        )

    region_code = (
        to_halfwidth(fields.get("region_code") or metadata.get("行政区划代码", "")) or reference.units[unit_code]
    )
    if region_code not in reference.regions:
        raise NormalizationError(
            "unknown_region",
            f"the region code “{region_code}” is not a current GB/T 2260 code in the reference data.",
        )

    period_text = fields.get("period") or metadata.get("报告期", "")
    period_id = parse_period(period_text)
    if not reference.first_year <= period_year(period_id) <= reference.last_year:
        raise NormalizationError(
            "period_out_of_calendar",
            f"the period {period_id} is outside the reporting calendar ({reference.first_year}–{reference.last_year}).",
        )

    multiplier, header_written_unit = value_header
    if looks_like_id_number(fields.get("value") or ""):
        raise NormalizationError(
            "not_a_number",
            "the value looks like a resident ID number (公民身份号码), not a figure; personal data is not "
            "reported on this form.",
        )
    parsed = parse_value(fields.get("value"), header_multiplier=multiplier)
    written_unit = parsed.unit or to_halfwidth(fields.get("unit", "")) or header_written_unit
    value = convert_to_catalog_unit(parsed.value, written_unit or None, indicator.unit)
    status = parsed.status
    status_text = to_halfwidth(fields.get("obs_status", "")).lower()
    if status_text and parsed.value is not None:
        status = {"p": "provisional", "e": "estimated", "初步": "provisional", "估计": "estimated"}.get(
            status_text, status
        )
    note = fields.get("note", "").strip() or None
    return {
        "reporting_unit_code": unit_code,
        "region_code": region_code,
        "period_id": period_id,
        "indicator_code": indicator.code,
        "value": value,
        "unit": indicator.unit,
        "obs_status": status,
        "note": note,
    }
