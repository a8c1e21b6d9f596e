"""Reading CSV: the dialect is what the standard library's sniffer finds, only found faster."""

from __future__ import annotations

import csv

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingest.readers import read_csv, sniff_dialect

ATTRIBUTES = ("delimiter", "quotechar", "doublequote", "skipinitialspace", "escapechar", "quoting", "lineterminator")


def sniffed(sample: str) -> type[csv.Dialect]:
    """What ``read_csv`` did before: the sniffer, or Excel's dialect when it gives up."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def as_tuple(dialect: type[csv.Dialect]) -> tuple[object, ...]:
    return tuple(getattr(dialect, name, None) for name in ATTRIBUTES)


@pytest.mark.parametrize(
    "sample",
    [
        "单位代码,报告期,指标代码,数值\r\n530700-ZGH,2025,urban_new_jobs,12\r\n",
        "单位代码;报告期;指标代码;数值\n530700-ZGH;2025;urban_new_jobs;12,5\n",
        "单位代码\t报告期\t指标代码\t数值\n530700-ZGH\t2025\turban_new_jobs\t12\n",
        "a, b, c\n1, 2, 3\n4, 5, 6\n",
        "a,b;c\n1,2;3\n",
        "only one column\nstill one\n",
        "",
        'a,b,c\n1,"1,234",3\n',
        "a,b\n1,it's\n",
    ],
)
def test_the_dialect_is_the_sniffers(sample):
    assert as_tuple(sniff_dialect(sample)) == as_tuple(sniffed(sample))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=",;\t \n\r\"'ab1万", max_size=300))
@example("a,b\n" * 12 + "a;b;c\n" * 12)  # a second chunk of lines decides
@example(",;\t\n,;\t\n")  # every candidate consistent: the preferred order decides
def test_any_sample_gets_the_sniffers_dialect(sample):
    assert as_tuple(sniff_dialect(sample)) == as_tuple(sniffed(sample))


@st.composite
def tables(draw) -> str:
    """Lines of cells joined by one delimiter, a few lines one cell longer or shorter, a few stray
    delimiters in cells: the near-misses where the sniffer's thresholds decide."""
    delimiter = draw(st.sampled_from([",", ";", "\t", ", "]))
    columns = draw(st.integers(min_value=1, max_value=4))
    odd = draw(st.integers(min_value=0, max_value=12))  # in 100 lines, about how many have another width
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=120))):
        width = columns + draw(st.sampled_from([0] * (100 - odd) + [1, -1] * odd))
        stray = draw(st.sampled_from(["", "", ",", ";", "\t"]))
        lines.append(delimiter.join(draw(st.sampled_from(["a", "12", "万", " b", stray])) for _ in range(width)))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


@settings(max_examples=250, deadline=None)
@given(tables())
@example("a,a\na,a;\na,a\na,a\na,a\na,a\na,a\na,a;\na,a\na,a,a\na,a;\na,a\na,a\na,a;\na,a;\n" + "a,a\n" * 7 + "a,a")
def test_any_table_gets_the_sniffers_dialect(sample):
    assert as_tuple(sniff_dialect(sample)) == as_tuple(sniffed(sample))


def test_a_doubled_quote_reads_as_it_did():
    """Without quotes in the first 4 KB the sniffer's dialect keeps ``""`` as two characters."""
    text = "a,b\n" + "1,2\n" * 2000 + '3,"x""y"\n'
    rows = read_csv(text.encode()).rows
    expected = list(csv.reader(text.splitlines(), sniffed(text[:4096])))
    assert [row.cells for row in rows] == expected
