"""One reader per file format: a received file → tables of strings, each row with where it came from.

Readers never interpret values (that is :mod:`ingest.normalize`) and never evaluate anything: an xlsx
is read through calamine, which returns the cached value of a formula cell and never computes it (a
workbook holding an Excel error or a percentage format is looked at a second time with openpyxl, for
the text the clerk sees: ``#DIV/0!``, ``85%``; hidden sheets are not read); a file is refused before
parsing when it is empty, too large, or unpacks past a size limit (zip bomb).
Every failure is a :class:`ReadError` with a reason code and a message for the person who sent the file.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import os
import re
import threading
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ingest.normalize import to_halfwidth

MAX_FILE_BYTES = 200 * 1024 * 1024  # default; REFORM_MAX_FILE_MB overrides it
MAX_XLSX_UNPACKED_BYTES = 500 * 1024 * 1024
MAX_XLSX_RATIO = 200  # unpacked / packed; real forms stay well below 30

SUPPORTED_SUFFIXES = (".csv", ".json", ".xlsx")
_DELIMITERS = ",;\t"
_METADATA_KEYS = (
    "表号",
    "填报单位",
    "单位代码",
    "报告期",
    "填报日期",
    "制表机关",
    "批准文号",
    "行政区划代码",
)


class ReadError(Exception):
    """A file that cannot be read at all. ``reason`` is a stable code, ``str(err)`` is for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class RawRow:
    sheet: str
    row_number: int  # 1-based, as a clerk sees it in the file
    cells: list[str]


@dataclass
class RawTable:
    """One sheet (or the whole CSV/JSON file): the rows as strings, plus a metadata block if any."""

    sheet: str
    rows: list[RawRow]
    metadata: dict[str, str] = field(default_factory=dict)


def max_file_bytes() -> int:
    """The size above which a submission is refused: ``REFORM_MAX_FILE_MB`` or 200 MB."""
    configured = os.environ.get("REFORM_MAX_FILE_MB")
    return int(float(configured) * 1024 * 1024) if configured else MAX_FILE_BYTES


def check_size(path: Path, max_bytes: int | None = None) -> int:
    max_bytes = max_file_bytes() if max_bytes is None else max_bytes
    size = path.stat().st_size
    if size == 0:
        raise ReadError("empty_file", "the file is empty (0 bytes); send the filled form again.")
    if size > max_bytes:
        raise ReadError(
            "file_too_large",
            f"the file is {size / 1e6:.0f} MB, above the {max_bytes / 1e6:.0f} MB limit; split it or send CSV.",
        )
    return size


_WORKBOOK_SIGNATURES = (
    (b"PK\x03\x04", "an Excel/WPS workbook (.xlsx)"),  # a ZIP file: what .xlsx files are
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel workbook (.xls)"),  # an OLE2 compound file
)


def workbook_named_as_text(head: bytes, suffix: str, workbooks_accepted: bool = True) -> str | None:
    """What to tell the sender of a workbook whose name says it is text (``.csv``/``.json``), else None.

    Excel and WPS write a workbook whatever name it is given; read as text it fails with a misleading
    "not UTF-8" or "no header". ``workbooks_accepted``: whether the workbook itself may be sent."""
    kind = next((name for signature, name in _WORKBOOK_SIGNATURES if head.startswith(signature)), None)
    if kind is None:
        return None
    if not workbooks_accepted:
        also = " and send that."
    elif kind.endswith("(.xlsx)"):
        also = ", or send the workbook named .xlsx."
    else:  # .xls is not read: the workbook must be saved again
        also = ", or save it as .xlsx and send that."
    return f"this file is {kind} named “{suffix}”; save it as a real CSV (UTF-8 or GBK) from Excel/WPS{also}"


def read_file(path: Path, max_bytes: int | None = None, name: str | None = None) -> list[RawTable]:
    """Read any supported file into tables. Raises :class:`ReadError` with a reason code.

    ``name``: the name the file was received under, when ``path`` is its archived copy (a reprocess):
    its type is the received name's."""
    check_size(path, max_bytes)
    given = Path(name).suffix if name else path.suffix
    suffix = given.lower()
    if suffix in (".csv", ".json"):
        data = path.read_bytes()
        if (message := workbook_named_as_text(data[:8], suffix)) is not None:
            raise ReadError("unsupported_type", message)
        return [read_csv(data) if suffix == ".csv" else read_json(data)]
    if suffix == ".xlsx":
        return read_xlsx(path)
    raise ReadError(
        "unsupported_type",
        f"files of type “{given or '(none)'}” are not accepted; send .xlsx, .csv or .json.",
    )


_UNDECODED = threading.local()  # what the "reform-count" error handler saw in the last decode of its thread


def _count_and_replace(err: UnicodeDecodeError) -> tuple[str, int]:
    """Like "replace", counting the bytes that did not decode (a U+FFFD written in the text is not one)."""
    _UNDECODED.count += 1
    if _UNDECODED.first is None:
        _UNDECODED.first = err.start
    return "\ufffd", err.end


codecs.register_error("reform-count", _count_and_replace)


class Utf8Tally:
    """Whether text fed to it block by block is UTF-8, UTF-8 with a few stray bytes, or not UTF-8.

    A UTF-8 file into which one cell was pasted from a GBK file is not UTF-8, and read as GB18030 its
    Chinese turns into other Chinese characters, silently, or fails further on with a wrong message.
    The tally counts the byte sequences that do not decode as UTF-8 (``bad``) against the characters
    that do and take more than one byte (``wide``): a file with at most one bad sequence per
    :data:`STRAY_SHARE` wide characters is UTF-8 with stray bytes. Read as UTF-8, GBK text gives about
    one bad sequence per character and a valid two-byte one for about one character in seven (a lead
    byte C2–DF before a trail byte 80–BF), so a GBK file has many more bad sequences than wide
    characters; a file of ASCII alone with a GBK cell has no wide characters. Both are read as
    GB18030, which is right for them.
    """

    STRAY_SHARE = 4
    GIVE_UP = 1_000  # bad sequences beyond which a file is not UTF-8 however it ends

    def __init__(self, lines: bool = False) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("reform-count")
        self._lines = 0 if lines else None  # line breaks before the first bad sequence, when counted
        self.bad = 0
        self.wide = 0  # bytes beyond the first of every multibyte character: about 2 per Chinese character
        self.first_bad_line: int | None = None  # 1-based, when lines are counted
        self.done = False  # True once the verdict can no longer change to UTF-8

    def feed(self, block: bytes, final: bool = False) -> None:
        if self.done:
            return
        pending = len(self._decoder.getstate()[0])  # the start of a character cut at the last block's end
        _UNDECODED.count, _UNDECODED.first = 0, None
        text = self._decoder.decode(block, final)  # the handler runs only where bytes do not decode
        bad, first = _UNDECODED.count, _UNDECODED.first or 0
        self.wide += len(block) - len(text)
        if self._lines is not None and self.first_bad_line is None:
            if bad:  # the handler's offsets count the pending bytes too
                self.first_bad_line = self._lines + block.count(b"\n", 0, max(first - pending, 0)) + 1
            else:
                self._lines += block.count(b"\n")
        self.bad += bad
        self.done = self.bad > self.GIVE_UP and self.bad * self.STRAY_SHARE > self.wide // 2

    @property
    def verdict(self) -> str:
        """``utf-8``, ``utf-8-stray`` (a few bad sequences among much UTF-8) or ``other``."""
        if not self.bad:
            return "utf-8"
        return "utf-8-stray" if not self.done and self.bad * self.STRAY_SHARE <= self.wide // 2 else "other"


def decode_text(data: bytes, head: bool = False) -> str:
    """UTF-16 with its byte-order mark (Excel's "Unicode text"), else UTF-8 (with or without BOM) or
    GB18030/GBK, whichever decodes cleanly. A UTF-8 text with a few stray bytes is refused with the
    line they are on (see :class:`Utf8Tally`), not read as GB18030.

    ``head``: ``data`` is the start of a file, and a character cut at its end is left out."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise ReadError("bad_encoding", "the UTF-16 text is damaged; save the file again as UTF-8 CSV.") from err
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=not head)
    except UnicodeDecodeError:
        pass
    tally = Utf8Tally(lines=True)
    tally.feed(data, final=not head)
    if tally.verdict == "utf-8-stray":
        raise ReadError("bad_encoding", stray_bytes_message(tally.first_bad_line))
    try:
        return codecs.getincrementaldecoder("gb18030")().decode(data, final=not head)
    except UnicodeDecodeError:
        raise ReadError(
            "bad_encoding", "the text is neither UTF-8 nor GBK/GB18030; save the file as UTF-8 CSV."
        ) from None


def stray_bytes_message(line: int | None = None) -> str:
    where = f"line {line} has" if line else "some rows have"
    return (
        f"the file is UTF-8, but {where} bytes that are not (text pasted from a GBK file?); "
        "retype that text or save the file again as UTF-8 CSV."
    )


def read_csv(data: bytes, sheet: str = "csv") -> RawTable:
    text = decode_text(data)
    if "\x00" in text:
        raise ReadError("unsupported_type", "the file contains binary data and is not a CSV text file.")
    reader = csv.reader(io.StringIO(text), sniff_dialect(text[:4096]))
    try:
        rows = [RawRow(sheet, number, row) for number, row in enumerate(reader, start=1)]
    except csv.Error as err:  # a cell over the csv module's 128 KB limit (an unclosed quote runs to the end)
        raise ReadError(
            "corrupt_file", f"the CSV cannot be read near line {reader.line_num}: {err}; check for an unclosed quote."
        ) from err
    return _with_metadata(RawTable(sheet, rows))


def sniff_dialect(sample: str) -> type[csv.Dialect]:
    """The CSV dialect of a file from its first few KB: what ``csv.Sniffer().sniff(sample, ",;\\t")``
    finds, or Excel's when it finds nothing.

    A sample without quote characters (most forms) gives the sniffer nothing to match its quote
    patterns on, so it decides by :func:`_guess_delimiter` alone, which is done here for the three
    candidate delimiters only: the same answer at a fraction of the cost (the sniffer counts all 127
    ASCII characters on every line). Samples with quotes go to the sniffer itself. Tested against the
    sniffer in ``tests/ingest/test_readers.py``.
    """
    if '"' not in sample and "'" not in sample:
        delimiter, skipinitialspace = _guess_delimiter(sample, _DELIMITERS)
        return _unquoted_dialect(delimiter, skipinitialspace) if delimiter else csv.excel
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        return csv.excel


@functools.cache
def _unquoted_dialect(delimiter: str, skipinitialspace: bool) -> type[csv.Dialect]:
    """The dialect ``csv.Sniffer.sniff`` builds when it found no quotes: no doubled quotes either."""

    class Sniffed(csv.Dialect):
        lineterminator = "\r\n"
        quoting = csv.QUOTE_MINIMAL
        quotechar = '"'
        doublequote = False

    Sniffed.delimiter = delimiter
    Sniffed.skipinitialspace = skipinitialspace
    return Sniffed


def _guess_delimiter(data: str, delimiters: str) -> tuple[str, bool]:
    """``csv.Sniffer._guess_delimiter`` (CPython 3.11), line for line, with its frequency tables built
    for the candidate ``delimiters`` only instead of every ASCII character. Only a candidate can be
    returned and each character's table depends on that character alone, so the answer is the same.

    The delimiter should occur the same number of times on each line: per chunk of ten lines, the mode
    of each candidate's count per line, and how many lines meet it; the first chunk where exactly one
    candidate is consistent on ≥ 90 % of the lines decides, else the preferred order ``, \\t ;``.
    Returns ``("", False)`` when no candidate qualifies.
    """
    lines = [line for line in data.split("\n") if line]
    candidates = sorted(delimiters)  # the sniffer's order: ASCII
    chunk_length = min(10, len(lines))
    iteration = 0
    char_frequency: dict[str, dict[int, int]] = {}
    modes: dict[str, tuple[int, int]] = {}
    delims: dict[str, tuple[int, int]] = {}
    start, end = 0, chunk_length
    while start < len(lines):
        iteration += 1
        for line in lines[start:end]:
            for char in candidates:
                meta_frequency = char_frequency.get(char, {})
                freq = line.count(char)  # counted even when 0
                meta_frequency[freq] = meta_frequency.get(freq, 0) + 1
                char_frequency[char] = meta_frequency
        for char, meta_frequency in char_frequency.items():
            items = list(meta_frequency.items())
            if len(items) == 1 and items[0][0] == 0:
                continue
            if len(items) > 1:  # the mode, less the lines of every other frequency
                mode = max(items, key=lambda item: item[1])
                items.remove(mode)
                modes[char] = (mode[0], mode[1] - sum(item[1] for item in items))
            else:
                modes[char] = items[0]
        total = float(min(chunk_length * iteration, len(lines)))
        consistency = 1.0
        while len(delims) == 0 and consistency >= 0.9:
            for char, (freq, lines_meeting) in modes.items():
                if freq > 0 and lines_meeting > 0 and lines_meeting / total >= consistency and char in delimiters:
                    delims[char] = (freq, lines_meeting)
            consistency -= 0.01
        if len(delims) == 1:
            delim = next(iter(delims))
            return delim, lines[0].count(delim) == lines[0].count(f"{delim} ")
        start = end
        end += chunk_length
    if not delims:
        return "", False
    # several candidates are consistent: the first in the sniffer's preferred order (it lists all three)
    delim = next(d for d in csv.Sniffer().preferred if d in delims)
    return delim, lines[0].count(delim) == lines[0].count(f"{delim} ")


def read_json(data: bytes) -> RawTable:
    """JSON from an online reporting system: a list of records, or ``{"metadata": {...}, "records": [...]}``."""
    try:
        document = json.loads(decode_text(data))
    except json.JSONDecodeError as err:
        raise ReadError("corrupt_file", f"the JSON is malformed at line {err.lineno}: {err.msg}.") from err
    except (ValueError, RecursionError) as err:  # a number of over 4,300 digits; nesting deeper than Python's stack
        raise ReadError("corrupt_file", f"the JSON cannot be read: {str(err)[:200] or 'nested too deeply'}.") from err
    metadata: dict[str, str] = {}
    if isinstance(document, dict):
        given = document.get("metadata") or {}
        if not isinstance(given, dict):
            raise ReadError("corrupt_file", "the JSON's “metadata” must be an object of names and values.")
        metadata = {str(k): _cell_text(v) for k, v in given.items()}
        document = document.get("records", document.get("data"))
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise ReadError("corrupt_file", "the JSON must be a list of records (objects), or hold one under “records”.")
    header: list[str] = []
    for record in document:
        for key in record:
            if key not in header:
                header.append(str(key))
    rows = [RawRow("json", 1, header)]
    rows += [
        RawRow("json", number, [_cell_text(record.get(key)) for key in header])
        for number, record in enumerate(document, start=2)
    ]
    return RawTable("json", rows, metadata)


def check_zip(path: Path) -> None:
    """Refuse an xlsx that is not a zip or that unpacks past the limits, before any parser sees it."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(_WORKBOOK_SIGNATURES[1][0]):  # OLE2: an .xls, or an .xlsx encrypted by a password
        raise ReadError(
            "unsupported_type",
            "this file is an old Excel workbook (.xls) or a workbook protected by a password; save it as "
            ".xlsx (Excel/WPS: Save As → Excel Workbook) without a password and send that.",
        )
    if head and not head.startswith(b"PK") and _is_text(head):
        raise ReadError(
            "unsupported_type",
            "this file is text (CSV or JSON), not an Excel workbook, although it is named .xlsx; name it "
            ".csv (or .json) and send it again.",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise ReadError(
            "corrupt_file", "the .xlsx file is damaged or truncated; save it again from Excel/WPS."
        ) from err
    unpacked = sum(info.file_size for info in infos)
    packed = max(path.stat().st_size, 1)
    if unpacked > MAX_XLSX_UNPACKED_BYTES or unpacked / packed > MAX_XLSX_RATIO:
        raise ReadError(
            "zip_bomb",
            f"the .xlsx unpacks to {unpacked / 1e6:.0f} MB from {packed / 1e6:.1f} MB; refused as unsafe.",
        )
    if not any(info.filename == "xl/workbook.xml" for info in infos):
        raise ReadError("corrupt_file", "the file is a zip archive but not an Excel workbook.")


def _is_text(head: bytes) -> bool:
    try:
        decode_text(head, head=len(head) >= 4096)  # a character cut at the end is not an error
    except ReadError:
        return False
    return b"\x00" not in head or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def read_xlsx(path: Path) -> list[RawTable]:
    """Every visible sheet: a hidden sheet (an old copy of the form, a lookup list) is not the form."""
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    check_zip(path)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        visible = [m.name for m in workbook.sheets_metadata if m.visible == SheetVisibleEnum.Visible]
        shown = _shown_values(path, visible)
        tables = []
        for name in visible:
            sheet = workbook.get_sheet_by_name(name)
            rows = [
                RawRow(name, number, [shown.get((name, number, col), _cell_text(cell)) for col, cell in enumerate(row)])
                for number, row in enumerate(sheet.to_python(skip_empty_area=False), start=1)
            ]
            tables.append(_with_metadata(RawTable(name, rows)))
    except ReadError:
        raise
    except Exception as err:  # calamine raises its own error types for damaged parts
        raise ReadError(
            "corrupt_file", f"the .xlsx file could not be read ({type(err).__name__}); save it again."
        ) from err
    return tables


def _shown_values(path: Path, sheets: list[str]) -> dict[tuple[str, int, int], str]:
    """(sheet, row, column) → text for the cells calamine's values misread: an Excel error (#DIV/0!,
    #N/A, which calamine gives as blank, so the row would read as "not reported") and a number formatted
    as a percentage (0.85 shown as 85%, the rate the clerk typed). Only a workbook that holds such
    cells is opened a second time, with openpyxl (formats and error values; still nothing computed)."""
    with zipfile.ZipFile(path) as archive:
        parts = [archive.read(i) for i in archive.infolist() if i.filename.startswith("xl/worksheets/sheet")]
        styles = next((archive.read(i) for i in archive.infolist() if i.filename == "xl/styles.xml"), b"")
    errors = any(b' t="e"' in part for part in parts)
    if not errors and b"%" not in styles and not _BUILT_IN_PERCENT.search(styles):
        return {}
    from openpyxl import load_workbook

    shown: dict[tuple[str, int, int], str] = {}
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        for name in sheets:
            for number, row in enumerate(workbook[name].iter_rows(), start=1):
                for col, cell in enumerate(row):
                    if getattr(cell, "data_type", None) == "e":
                        shown[(name, number, col)] = str(cell.value)
                    elif (
                        isinstance(cell.value, float | int)
                        and not isinstance(cell.value, bool)
                        and _is_percent_format(getattr(cell, "number_format", "General"))
                    ):
                        shown[(name, number, col)] = _percent_text(cell.value)
    finally:
        workbook.close()
    return shown


_BUILT_IN_PERCENT = re.compile(rb'numFmtId="(9|10)"')  # Excel's built-in 0% and 0.00%, named by number only


def _is_percent_format(number_format: str) -> bool:
    unquoted = "".join(part for i, part in enumerate(number_format.split('"')) if i % 2 == 0)
    return "%" in unquoted.replace("\\%", "")


def _percent_text(value: float) -> str:
    """0.85 → "85%", 0.8534 → "85.34%": the stored value as a percentage, never the display's rounding."""
    return f"{(Decimal(repr(value)) * 100).normalize():f}%"


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _with_metadata(table: RawTable) -> RawTable:
    """Collect ``表号: …``-style pairs from the rows above the header into ``table.metadata``."""
    for row in table.rows[:15]:
        cells = [to_halfwidth(cell) for cell in row.cells if cell and cell.strip()]
        for index, cell in enumerate(cells):
            if not cell.startswith(_METADATA_KEYS):  # most cells are data: one test for all the keys
                continue
            for key in _METADATA_KEYS:
                if cell.startswith(key):
                    rest = cell[len(key) :].lstrip(":： ")
                    if not rest and index + 1 < len(cells):
                        rest = cells[index + 1]
                    if rest and key not in table.metadata:
                        table.metadata[key] = rest
    return table
