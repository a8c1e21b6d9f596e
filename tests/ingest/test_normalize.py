"""Parsing what people type into forms: numbers, statuses, units and periods."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.normalize import (
    NormalizationError,
    convert_to_catalog_unit,
    header_unit,
    parse_period,
    parse_value,
    period_type,
    split_unit,
    to_halfwidth,
)

FULLWIDTH = str.maketrans("0123456789.,%", "０１２３４５６７８９．，％")


@pytest.mark.parametrize(
    ("text", "value", "status"),
    [
        ("1234", 1234.0, "normal"),
        ("1,234,567", 1234567.0, "normal"),
        ("１２３４", 1234.0, "normal"),
        ("１，２３４", 1234.0, "normal"),
        ("3.5亿", 350_000_000.0, "normal"),
        ("1.1万", 11_000.0, "normal"),
        ("85%", 85.0, "normal"),
        ("85.5％", 85.5, "normal"),
        ("  42  ", 42.0, "normal"),
        ("-3", -3.0, "normal"),
        ("12(p)", 12.0, "provisional"),
        ("12（预计）", 12.0, "estimated"),
        ("*", None, "masked"),
        ("***", None, "masked"),
        ("(略)", None, "masked"),
        ("（略）", None, "masked"),
        ("7.*万", None, "masked"),
        ("—", None, "not_applicable"),
        ("/", None, "not_applicable"),
        ("-", None, "not_applicable"),
        ("", None, "missing"),
        (None, None, "missing"),
    ],
)
def test_parse_value(text, value, status):
    parsed = parse_value(text)
    assert (parsed.value, parsed.status) == (value, status)


def test_unit_written_in_the_value_is_returned():
    assert parse_value("3.5亿元").unit == "元"
    assert parse_value("85%").unit == "%"
    assert parse_value("7万人次").value == 70_000.0


@pytest.mark.parametrize("text", ["约一百", "12abc", "1.2.3", "N0NE"])
def test_text_is_not_a_number(text):
    with pytest.raises(NormalizationError) as err:
        parse_value(text)
    assert err.value.reason == "not_a_number"
    assert text in str(err.value)


def test_header_multiplier_applies():
    assert header_unit("数值(万人)") == (10_000, "人")
    assert header_unit("数值（万）") == (10_000, "")
    assert header_unit("数值") == (1, None)
    assert parse_value("1.5", header_multiplier=10_000).value == 15_000.0


def test_unit_conversion_to_catalog():
    assert convert_to_catalog_unit(1.2, "万人", "人") == 12_000.0
    assert convert_to_catalog_unit(3.5, "亿元", "元") == 350_000_000.0
    assert convert_to_catalog_unit(5.0, "人", "人") == 5.0
    assert convert_to_catalog_unit(5.0, None, "人") == 5.0
    with pytest.raises(NormalizationError) as err:
        convert_to_catalog_unit(5.0, "人次", "人")
    assert err.value.reason == "unit_mismatch"


@given(st.integers(min_value=0, max_value=10**12))
def test_any_integer_round_trips_with_separators_and_fullwidth(n):
    plain = str(n)
    with_commas = f"{n:,}"
    assert parse_value(plain).value == n
    assert parse_value(with_commas).value == n
    assert parse_value(with_commas.translate(FULLWIDTH)).value == n


@given(st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False))
def test_wan_multiplier_is_exact(d):
    assert parse_value(f"{d}万").value == float(d * 10_000)


@given(st.decimals(min_value=0, max_value=100, places=1, allow_nan=False))
def test_percentages_with_and_without_sign_agree(d):
    assert parse_value(f"{d}%").value == parse_value(f"{d}").value == float(d)


@pytest.mark.parametrize(
    ("text", "period_id"),
    [
        ("2025", "2025"),
        ("2025年", "2025"),
        ("2025年度", "2025"),
        ("2025H1", "2025-S1"),
        ("2025-S2", "2025-S2"),
        ("2025年上半年", "2025-S1"),
        ("2025年下半年", "2025-S2"),
        ("2025Q3", "2025-Q3"),
        ("2025-Q3", "2025-Q3"),
        ("2025年第三季度", "2025-Q3"),
        ("2025年第3季度", "2025-Q3"),
        ("2025年3季度", "2025-Q3"),
        ("2025-09", "2025-M09"),
        ("2025-9", "2025-M09"),
        ("2025/09", "2025-M09"),
        ("2025年9月", "2025-M09"),
        ("2025年09月", "2025-M09"),
        ("2025年十二月", "2025-M12"),
        ("202509", "2025-M09"),
        ("2025-M09", "2025-M09"),
        ("２０２５年９月", "2025-M09"),
        ("2025.0", "2025"),
    ],
)
def test_parse_period(text, period_id):
    assert parse_period(text) == period_id


@pytest.mark.parametrize("text", ["2025年13月", "202513", "2025Q5", "下半年", "", "明年", "2025-M00"])
def test_bad_periods_are_refused(text):
    with pytest.raises(NormalizationError) as err:
        parse_period(text)
    assert err.value.reason == "bad_period"


@given(st.integers(min_value=1900, max_value=2100), st.integers(min_value=1, max_value=12))
def test_every_month_spelling_agrees(year, month):
    expected = f"{year}-M{month:02d}"
    spellings = [f"{year}-{month:02d}", f"{year}年{month}月", f"{year}{month:02d}", expected]
    assert {parse_period(s) for s in spellings} == {expected}
    assert period_type(expected) == "month"


@given(st.integers(min_value=1900, max_value=2100), st.integers(min_value=1, max_value=4))
def test_every_quarter_spelling_agrees(year, quarter):
    cn = "一二三四"[quarter - 1]
    spellings = [f"{year}Q{quarter}", f"{year}年第{cn}季度", f"{year}-Q{quarter}"]
    assert {parse_period(s) for s in spellings} == {f"{year}-Q{quarter}"}


@given(st.integers(min_value=1900, max_value=2100))
def test_canonical_ids_are_fixed_points(year):
    for period in (f"{year}", f"{year}-S1", f"{year}-Q4", f"{year}-M11"):
        assert parse_period(period) == period


def test_halfwidth():
    assert to_halfwidth("（略）１２３％") == "(略)123%"
    assert to_halfwidth("  产业工人  ") == "产业工人"


@pytest.mark.parametrize(
    "text", ["2025-04-12", "2025/4/12", "2025.04.12", "2025年4月12日", "20250412", "２０２５-０４-１２"]
)
def test_parse_date(text):
    from datetime import date

    from ingest.normalize import parse_date

    assert parse_date(text) == date(2025, 4, 12)


@pytest.mark.parametrize("text", ["2025-13-01", "2025-02-30", "yesterday", ""])
def test_bad_dates(text):
    from ingest.normalize import parse_date

    with pytest.raises(NormalizationError) as err:
        parse_date(text)
    assert err.value.reason == "bad_date"


@given(st.from_regex(r"[0-9]{1,32}(\.[0-9]{1,32})?", fullmatch=True))
def test_a_plain_number_reads_as_through_the_full_parser(text):
    """A cell of plain digits takes a short way; the full parser (reached here by a space, which it
    strips) must give the very same value."""
    assert parse_value(text) == parse_value(f" {text}")


@given(
    st.floats(allow_nan=False),
    st.sampled_from([("人", "人"), ("万人", "万人"), ("亿元", "亿元"), ("%", "%"), ("万", "万")]),
)
def test_converting_to_the_same_multiple_changes_nothing(value, units):
    written, catalog = units
    factor = split_unit(written)[0]
    general = float(Decimal(repr(value)) * factor / factor)  # what the conversion of other multiples does
    assert repr(convert_to_catalog_unit(value, written, catalog)) == repr(general) == repr(value)
