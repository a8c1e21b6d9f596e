"""Pure functions that turn what people type into forms into canonical values.

No I/O here: every function takes strings and returns values or raises :class:`NormalizationError`
with a message a clerk understands. Property-tested in ``tests/ingest/test_normalize.py``.

Observation statuses follow SDMX OBS_STATUS / CONF_STATUS in spirit:

========================  =====================================================
status                    written in forms as
========================  =====================================================
``normal``                a number
``provisional``           a number followed by ``(p)``, ``(初步)``
``estimated``             a number followed by ``(e)``, ``(估)``, ``(预计)``
``masked``                ``*``, ``***``, ``(略)``, or a number with ``*`` in it (``7.*万``)
``not_applicable``        ``—``, ``/``, ``-``, ``不适用``
``missing``               blank
========================  =====================================================
"""

from __future__ import annotations

import calendar
import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

MULTIPLIERS: dict[str, int] = {"千": 1_000, "万": 10_000, "百万": 1_000_000, "亿": 100_000_000}

OBS_STATUSES = ("normal", "provisional", "estimated", "masked", "not_applicable", "missing")

_NOT_APPLICABLE = {"—", "——", "-", "--", "–", "/", "／", "不适用", "n/a", "na", "无此项"}
_MASKED_WORDS = {"(略)", "略", "保密", "(保密)"}
_STATUS_SUFFIXES = {
    "(p)": "provisional",
    "(初步)": "provisional",
    "(e)": "estimated",
    "(估)": "estimated",
    "(预计)": "estimated",
}
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: no sign, space or separator
_NUMBER = re.compile(r"^(?P<sign>[+-]?)(?P<num>\d+(?:\.\d+)?|\.\d+)(?P<mult>千|万|百万|亿)?(?P<unit>.*)$")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


class NormalizationError(ValueError):
    """A value that cannot be read. ``reason`` is a stable code, ``str(err)`` is for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ParsedValue:
    """One cell, read: the number in base units (or None), its status and any unit written beside it."""

    value: float | None
    status: str
    unit: str | None = None


def to_halfwidth(text: str) -> str:
    """Full-width letters, digits and punctuation to their ASCII forms (NFKC), whitespace trimmed.

    ``１２３`` → ``123``, ``％`` → ``%``, ``（略）`` → ``(略)``; Chinese characters are unchanged.
    """
    if text.isascii():  # NFKC leaves ASCII as it is: skip the normalisation for most cells
        return text.strip()
    return unicodedata.normalize("NFKC", text).strip()


def parse_value(text: str | None, header_multiplier: int = 1) -> ParsedValue:
    """Read one cell of a form.

    ``header_multiplier`` applies a multiplier stated in the column header (``数值(万人)``).
    Thousands separators, full-width characters, 千/万/亿 and a trailing ``%`` are understood.
    """
    if header_multiplier == 1 and isinstance(text, str) and len(text) <= 28 and _PLAIN_NUMBER.fullmatch(text):
        # most cells: the way below gives float(Decimal(text) * 1), the same number, since ≤ 28 digits
        # are exact in Decimal's default context and both conversions to float round correctly
        return ParsedValue(float(text), "normal")
    raw = "" if text is None else to_halfwidth(str(text))
    compact = re.sub(r"\s+", "", raw)
    if compact == "":
        return ParsedValue(None, "missing")
    lowered = compact.lower()
    if lowered in _NOT_APPLICABLE:
        return ParsedValue(None, "not_applicable")
    if "*" in compact or compact in _MASKED_WORDS:
        return ParsedValue(None, "masked")

    status = "normal"
    for suffix, suffix_status in _STATUS_SUFFIXES.items():
        if lowered.endswith(suffix):
            status = suffix_status
            compact = compact[: -len(suffix)]
            break

    number_text = _strip_thousands(compact)
    match = _NUMBER.match(number_text)
    if not match:
        raise NormalizationError("not_a_number", f"“{raw}” is not a number; write digits such as 1234 or 12.5%.")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as err:  # pragma: no cover - the regex admits only valid decimals
        raise NormalizationError("not_a_number", f"“{raw}” is not a number.") from err
    if match["sign"] == "-":
        number = -number
    try:
        if match["mult"]:
            number *= MULTIPLIERS[match["mult"]]
        number *= header_multiplier
        value = float(number)
    except ArithmeticError:  # decimal.Overflow: more digits than any figure has
        value = math.inf
    if not math.isfinite(value):
        raise NormalizationError(
            "not_a_number", f"“{raw[:40]}{'…' if len(raw) > 40 else ''}” is too large to be a figure; check the digits."
        )
    unit = match["unit"] or None
    if unit is not None and not _looks_like_unit(unit):
        raise NormalizationError("not_a_number", f"“{raw}” has text after the number; put notes in the note column.")
    return ParsedValue(value, status, unit)


def _strip_thousands(text: str) -> str:
    """Remove thousands separators (``1,234,567``; also ``1 234``) but never a decimal comma."""
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?\D*", text):
        return text.replace(",", "")
    return text


_UNIT_WORDS = (
    "人次",
    "人",
    "名",
    "个",
    "家",
    "场次",
    "场",
    "户",
    "元",
    "%",
    "所",
    "分",
    "项",
    "次",
    "期",
    "万",
    "亿",
)


def _looks_like_unit(text: str) -> bool:
    return any(text.endswith(word) for word in _UNIT_WORDS) and len(text) <= 4


@functools.lru_cache(maxsize=1024)  # a form repeats a few unit spellings on every row
def split_unit(unit_text: str) -> tuple[int, str]:
    """``万人`` → (10000, ``人``); ``亿元`` → (100000000, ``元``); ``%`` → (1, ``%``)."""
    text = to_halfwidth(unit_text).strip("()[] ")
    if text in MULTIPLIERS:  # a header written "(万)": a multiplier without a unit
        return MULTIPLIERS[text], ""
    for prefix in sorted(MULTIPLIERS, key=len, reverse=True):
        if text.startswith(prefix) and len(text) > len(prefix):
            return MULTIPLIERS[prefix], text[len(prefix) :]
    return 1, text


def header_unit(header: str) -> tuple[int, str | None]:
    """The multiplier and unit written in a column header: ``数值(万人)`` → (10000, ``人``)."""
    match = re.search(r"[(\[](?P<unit>[^()\[\]]+)[)\]]\s*$", to_halfwidth(header))
    if not match:
        return 1, None
    return split_unit(match["unit"])


def convert_to_catalog_unit(value: float | None, written_unit: str | None, catalog_unit: str) -> float | None:
    """Express ``value`` written in ``written_unit`` in the catalog's unit, or raise ``unit_mismatch``.

    Multiples convert (``万人`` → ``人``); a different base unit (``人次`` for ``人``) is an error.
    ``written_unit=None`` means the value was written without a unit and is taken as the catalog's.
    """
    if written_unit is None or value is None:
        return value
    factor, base = split_unit(written_unit)
    catalog_factor, catalog_base = split_unit(catalog_unit)
    if base != catalog_base:
        raise NormalizationError(
            "unit_mismatch",
            f"the unit “{written_unit}” does not match the catalog unit “{catalog_unit}” for this indicator.",
        )
    if factor == catalog_factor:
        # x·f/f below is x again: repr(x) has ≤ 17 digits and f (at most 10⁸) ≤ 9, so the product fits
        # the 28 digits of Decimal's context exactly, the quotient is exact, and float(repr(x)) is x
        return value
    return float(Decimal(repr(value)) * factor / catalog_factor)


# ---------------------------------------------------------------------------------------------- periods

_PERIOD_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?P<y>\d{4})(?:年|年度)?$"), "A"),
    (re.compile(r"^(?P<y>\d{4})[-_ ]?[HhSs](?P<n>[12])$"), "S"),
    (re.compile(r"^(?P<y>\d{4})年?(?P<half>上|下)半年$"), "S"),
    (re.compile(r"^(?P<y>\d{4})[-_ ]?[Qq](?P<n>[1-4])$"), "Q"),
    (re.compile(r"^(?P<y>\d{4})年?第?(?P<n>[1-4一二三四])季度?$"), "Q"),
    (re.compile(r"^(?P<y>\d{4})[-/.](?P<n>\d{1,2})$"), "M"),
    (re.compile(r"^(?P<y>\d{4})-?M(?P<n>\d{1,2})$"), "M"),
    (re.compile(r"^(?P<y>\d{4})年(?P<n>\d{1,2}|[一二三四五六七八九十]|十[一二])月(?:份)?$"), "M"),
    (re.compile(r"^(?P<y>\d{4})(?P<n>0[1-9]|1[0-2])$"), "M"),
]


def _cn_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text.startswith("十"):
        return 10 + (_CN_DIGITS[text[1]] if len(text) > 1 else 0)
    return _CN_DIGITS[text]


@functools.lru_cache(maxsize=4096)  # a form repeats its period on every row; errors are not cached
def parse_period(text: str | None) -> str:
    """Any way a form writes a reporting period → its SDMX reporting-period id.

    ``2025``/``2025年`` → ``2025``; ``2025H1``/``2025年上半年`` → ``2025-S1``;
    ``2025Q3``/``2025年第三季度`` → ``2025-Q3``; ``2025-09``/``2025年9月``/``202509`` → ``2025-M09``.
    Canonical ids parse to themselves.
    """
    raw = "" if text is None else to_halfwidth(str(text))
    compact = re.sub(r"\s+", "", raw)
    if compact.endswith(".0") and compact[:-2].isdigit():  # 2025 read from a spreadsheet as a float
        compact = compact[:-2]
    for pattern, kind in _PERIOD_PATTERNS:
        match = pattern.match(compact)
        if not match:
            continue
        year = int(match["y"])
        if kind == "A":
            return f"{year}"
        if kind == "S":
            half = match.groupdict().get("half")
            n = (1 if half == "上" else 2) if half else int(match["n"])
            return f"{year}-S{n}"
        n = _cn_number(match["n"])
        if kind == "Q":
            return f"{year}-Q{n}"
        if 1 <= n <= 12:
            return f"{year}-M{n:02d}"
        break
    raise NormalizationError(
        "bad_period",
        f"“{raw}” is not a reporting period; write e.g. 2025, 2025年上半年, 2025年第三季度 or 2025年9月.",
    )


def period_type(period_id: str) -> str:
    """``2025`` → annual, ``2025-S1`` → half_year, ``2025-Q3`` → quarter, ``2025-M09`` → month."""
    if len(period_id) == 4:
        return "annual"
    return {"S": "half_year", "Q": "quarter", "M": "month"}[period_id[5]]


def period_year(period_id: str) -> int:
    return int(period_id[:4])


def period_bounds(period_id: str) -> tuple[date, date]:
    """First and last day of a canonical period: ``2025-Q3`` → (2025-07-01, 2025-09-30)."""
    year = period_year(period_id)
    kind = period_type(period_id)
    if kind == "annual":
        first_month, months = 1, 12
    else:
        number = int(period_id[6:])
        months = {"half_year": 6, "quarter": 3, "month": 1}[kind]
        first_month = (number - 1) * months + 1
    start = date(year, first_month, 1)
    last_month = first_month + months - 1
    end = date(year, last_month, calendar.monthrange(year, last_month)[1])
    return start, end


def parse_date(text: str | None) -> date:
    """A date as forms write it: 2025-10-10, 2025/10/10, 2025.10.10, 2025年10月10日, 20251010."""
    raw = "" if text is None else to_halfwidth(str(text))
    match = re.fullmatch(r"(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})\s*日?(?:[ T].*)?", raw)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise NormalizationError("bad_date", f"“{raw}” is not a date; write e.g. 2025-10-10 or 2025年10月10日.")
