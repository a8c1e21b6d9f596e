"""Statistical microdata (统计微观数据): enterprise rosters, worker records, trainings, skill certifications,
wages by occupation × grade and sample-survey responses → the lake, in bounded memory.

Microdata files are large (a province's worker records run to millions of rows), so unlike
:mod:`ingest.submissions` nothing here holds a file's rows in Python. One file is loaded by SQL over
DuckDB's own CSV reader, in a scratch DuckDB file with a memory limit beyond which it spills to disk:

1. **scan**    (Python, streaming) sha256 of the bytes, the UTF-8 check, and a look at the first 64 KiB
               for the header row (title rows may precede it), the delimiter and the column mapping. A
               GB18030/GBK or UTF-16 file is transcoded to UTF-8 block by block (DuckDB reads UTF-8).
2. **read**    ``read_csv`` (every cell as text, in parallel, in file order, see :func:`_read`) numbers
               the rows and checks ID numbers in SQL, agreeing with python-stdnum's ``cn.ric``: the
               GB 11643 MOD 11-2 check digit and the birth date here, the address code (from the six
               area digits and the birth year) in the check stage. The ID is replaced by its
               pseudonym, HMAC-SHA256 in SQL (:func:`ingest.intake.pseudonym_sql_macro`, equal to
               :func:`ingest.intake.make_pseudonymiser`).
               Names, phone numbers, addresses and birth dates are never selected and the raw ID number
               is never stored, not even in the scratch file.
3. **check**   (parallel) every other cell is cleaned and checked: the GB 32100 credit-code check
               character in SQL (agreeing with ``cn.uscc``), codes joined to the reference seeds,
               numbers, dates and flags parsed; the first failing check gives the reason and message.
4. **dedupe**  the first valid row of each key wins; later ones are ``duplicate_row``.
5. **write**   ``COPY … TO … (FORMAT parquet)`` into temporary names beside the targets, renamed into
               place, then the audit record (the commit marker) through :func:`ingest.lake.write_file_outputs`.

Every data row ends up accepted or quarantined (``received = accepted + quarantined``); rows with every
cell blank are counted as skipped. Quarantine records have the shape of
:class:`ingest.submissions.QuarantineRecord`; their ``raw_values`` hold the row's cells with ID numbers
replaced by ``<id:pseudonym>`` and mobile numbers by ``<phone>``
(:func:`ingest.submissions.scrub_personal_data`) and personal columns (names, phone numbers, addresses,
birth dates) removed; in a file that holds personal data, so are columns under headers not known here,
and a misaligned row keeps no cells at all. A survey's respondent column is stored only as the pseudonym
of what it holds. Messages never quote an ID number.

Reason codes (stable; analysts filter on them):

=========================  ==============================================================
``malformed_row``          more or fewer cells than the header, or an unclosed quote swallowed lines
                           (the message says how many)
``bad_encoding``           bytes that are not UTF-8 in a file that otherwise is (a cell pasted from a
                           GBK file); the rest of the file is read as UTF-8, not as GB18030
``missing_field``          a required cell is blank
``bad_id_number``          resident ID fails GB 11643 (length, check digit, birth date, address
                           code in the birth year) or its birth year is after the receipt
``bad_credit_code``        unified social credit code fails GB 32100 (length, alphabet, check)
``unknown_industry``       not a GB/T 4754-2017 division in the reference data
``unknown_region``         not a current region code in the reference data
``unknown_ownership``      not an ownership / registration type in the reference data
``unknown_grade``          not a skill grade of the new eight-level ladder
``unknown_group``          not a worker group in the reference data
``bad_flag``               a yes/no cell that is none of 是/否/Y/N/1/0/true/false
``not_a_number``           a number cell that is not a number (or not a whole number of people)
``negative_value``         a count, amount or number of hours below zero
``bad_date``               not a date, or after the day the file was received, or before 1950
``bad_period``             a year that is not a year; ``period_out_of_calendar`` outside 2016–2035
``bad_year``               a reference year (统计年度) that is not a year or is outside 2016–2035, or a
                           craftsman title year (获评年份) that is not a year, before 1950 or after
                           the year the file was received
``unknown_title``          a craftsman title (工匠称号) other than 大国工匠, 省级工匠 or 市级工匠
``part_exceeds_whole``     an amount above the amount it is part of: the frontline part of the staff
                           education fund above the fund, or the fund above the payroll
``bad_weight``             a survey design weight that is missing, not a number or not above 0
``out_of_range``           satisfaction outside 1–5
``bad_occupation_code``    not shaped like a 职业分类大典 code (``6-18-01-01``)
``duplicate_row``          the same key as an earlier valid row of the file
=========================  ==============================================================

File-level reasons (the whole file is recorded as rejected): ``empty_file``, ``unsupported_type``,
``bad_encoding``, ``no_header``, ``missing_column``, ``no_data``, ``corrupt_file``,
``all_rows_quarantined``.

Known limit: DuckDB's reader drops lines that are completely empty, so a row after such a line is
numbered one lower than in the file; lines of empty cells (``,,,``, as Excel writes blank rows) count.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingest import lake
from ingest.config import SEEDS_DIR, Paths
from ingest.intake import (
    FileOutcome,
    archive,
    drop_superseded_archive,
    file_format,
    make_pseudonymiser,
    pseudonym_sql_macro,
    received_name,
    recorded_name,
    step_seconds,
)
from ingest.normalize import header_unit
from ingest.readers import Utf8Tally, stray_bytes_message, workbook_named_as_text
from ingest.reference import CALENDAR_FIRST_YEAR, CALENDAR_LAST_YEAR, read_seed
from ingest.submissions import header_key, scrub_personal_data

log = logging.getLogger(__name__)

KINDS = ("enterprises", "workers", "trainings", "certifications", "wages", "survey_responses")
ACCEPTED_SUFFIXES = (".csv", ".tsv", ".txt")
SHEET = "csv"
HEAD_BYTES = 64 * 1024
BLOCK_BYTES = 256 * 1024  # the UTF-8 check decodes a block at a time: small blocks keep Python memory flat
SPARE_COLUMNS = 8  # cells beyond the header land here, so a row with too many cells is seen, not cut
ABSENT = "\u2063absent\u2063"  # DuckDB's null string: never typed, so only padding cells are null
# DuckDB spills to the scratch folder beyond it (env REFORM_MICRODATA_MEMORY_LIMIT). At 512 MB a
# 5-million-row file spilled its scratch tables and took 44 s; at 1 GB 33 s (1.25 GiB peak per file)
DEFAULT_MEMORY_LIMIT = "1GB"
READ_BUFFER_BYTES: int | None = None  # DuckDB's default; a parallel read splits the file by buffer (tests lower it)
EARLIEST_DATE = "1950-01-01"
COUNT_LIMIT = 1e18  # a count above it is refused (not_a_number); a BIGINT holds up to 9.2e18

ProgressCallback = Callable[[str, float], None]
"""``progress(stage, fraction)``: stage is scan, transcode, read, check, dedupe or write; fraction 0.0–1.0."""


class MicrodataFileError(Exception):
    """The file cannot be loaded at all. ``reason`` is a stable code, ``str(err)`` is for the sender."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --------------------------------------------------------------------------------------------------
# What each kind of file holds
# --------------------------------------------------------------------------------------------------

# Columns that are never read into the lake, whatever the kind (compared as header_key()).
PERSONAL_HEADERS = (
    "姓名",
    "职工姓名",
    "员工姓名",
    "学员姓名",
    "工人姓名",
    "受访者姓名",
    "被调查人姓名",
    "持证人姓名",
    "名字",
    "name",
    "full_name",
    "worker_name",
    "法定代表人",
    "法人代表",
    "法定代表人姓名",
    "联系人",
    "负责人",
    "联系电话",
    "电话",
    "手机",
    "手机号",
    "手机号码",
    "phone",
    "mobile",
    "家庭住址",
    "住址",
    "户籍地址",
    "联系地址",
    "address",
    "出生日期",
    "出生年月",
    "birth_date",
)
_PERSONAL_KEYS = frozenset(header_key(h) for h in PERSONAL_HEADERS)


@dataclass(frozen=True)
class Field:
    """One column of a microdata file.

    ``type`` decides how the cell is cleaned, checked and typed:

    - ``id``           resident ID number → worker_pseudonym, sex, birth_year (the ID itself is dropped)
    - ``respondent``   survey respondent id → always pseudonymised (it may be an ID or phone number)
    - ``uscc``         unified social credit code
    - ``region`` ``industry`` ``ownership`` ``grade`` ``group``  codes checked against the seeds
    - ``flag`` ``count`` ``amount`` ``weight`` ``date`` ``year`` ``satisfaction`` ``occupation`` ``text``
    - ``ref_year``     a reference year (统计年度) within the reporting calendar
    - ``award_year``   the year a title was awarded: 1950 to the year of receipt
    - ``title``        a craftsman title (工匠称号) → great_craftsman, provincial_craftsman, city_craftsman
    """

    name: str
    type: str
    aliases: tuple[str, ...]
    required: bool = False
    column: str | None = None  # name in the raw table (default: ``name``)
    label: str = ""  # how the column is called on forms, for messages

    @property
    def output(self) -> str:
        return self.column or self.name


@dataclass(frozen=True)
class Kind:
    name: str
    label_zh: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]  # raw-table columns that identify a row; a repeat is ``duplicate_row``
    key_label: str
    either: tuple[str, ...] = ()  # at least one of these fields must be filled in
    parts: tuple[tuple[str, str], ...] = ()  # (part, whole) amounts: the part cannot exceed the whole
    requires: tuple[tuple[str, str], ...] = ()  # (field, needed): when the first is filled, so is the second

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def personal(self) -> bool:
        return any(f.type in ("id", "respondent") for f in self.fields)


_ID_FIELD = Field(
    "id_number",
    "id",
    (
        "公民身份号码",
        "身份证号码",
        "身份证号",
        "身份证件号码",
        "证件号码",
        "居民身份证号码",
        "社会保障号码",
        "社会保障卡号",
        "社保卡号",
        "id_number",
        "resident_id",
        "id_no",
    ),
    required=True,
    label="公民身份号码",
)
_REGION = ("行政区划代码", "所在地行政区划代码", "所在地区划代码", "工作地区划代码", "区划代码", "地区代码")
_INDUSTRY = (
    "行业代码",
    "国民经济行业代码",
    "所属行业代码",
    "行业类别代码",
    "行业分类代码",
    "industry_code",
    "industry",
)
_GRADE = ("技能等级", "职业技能等级", "技能等级代码", "等级", "skill_grade", "skill_grade_code", "grade")
_GROUP = ("人员类别", "职工类别", "群体类别", "人员身份", "worker_group", "worker_group_code", "group")
_OCCUPATION_CODE = ("职业编码", "职业代码", "职业(工种)编码", "职业(工种)代码", "occupation_code")
_OCCUPATION_NAME = ("职业名称", "职业(工种)名称", "职业(工种)", "工种", "职业", "occupation_name", "occupation")
# the year a roster describes; optional: without it the build takes the year of receipt (Asia/Shanghai)
_REFERENCE_YEAR = Field(
    "reference_year",
    "ref_year",
    ("统计年度", "统计年份", "报告年度", "年度", "reference_year"),
    label="统计年度",
)

KIND_SPECS: dict[str, Kind] = {
    "enterprises": Kind(
        "enterprises",
        "企业名录",
        (
            Field(
                "credit_code",
                "uscc",
                ("统一社会信用代码", "社会信用代码", "信用代码", "credit_code", "uscc", "unified_social_credit_code"),
                required=True,
                label="统一社会信用代码",
            ),
            Field(
                "enterprise_name", "text", ("单位名称", "企业名称", "单位详细名称", "enterprise_name", "company_name")
            ),
            Field("industry", "industry", _INDUSTRY, required=True, column="industry_code", label="行业代码"),
            Field("region", "region", (*_REGION, "region_code", "region"), True, "region_code", "行政区划代码"),
            Field(
                "ownership",
                "ownership",
                (
                    "登记注册类型",
                    "登记注册类型代码",
                    "企业登记注册类型",
                    "所有制类型",
                    "经济类型",
                    "企业类型",
                    "ownership",
                    "ownership_type",
                    "ownership_code",
                ),
                required=True,
                column="ownership_code",
                label="登记注册类型",
            ),
            Field(
                "headcount",
                "count",
                ("职工人数", "从业人员数", "从业人员期末人数", "职工总数", "在岗职工人数", "headcount", "employees"),
                required=True,
                label="职工人数",
            ),
            Field(
                "has_union",
                "flag",
                ("是否建立工会", "建立工会", "是否建会", "有无工会", "has_union"),
                label="是否建立工会",
            ),
            Field(
                "has_collective_contract",
                "flag",
                ("是否签订集体合同", "签订集体合同", "集体合同", "has_collective_contract"),
                label="是否签订集体合同",
            ),
            _REFERENCE_YEAR,
            Field(
                "payroll",
                "amount",
                ("职工工资总额", "工资总额", "从业人员工资总额", "payroll", "payroll_yuan"),
                column="payroll_yuan",
                label="职工工资总额",
            ),
            Field(
                "education_fund",
                "amount",
                (
                    "职工教育经费提取额",
                    "职工教育经费提取",
                    "职工教育经费",
                    "教育经费提取额",
                    "education_fund",
                    "education_fund_yuan",
                ),
                column="education_fund_yuan",
                label="职工教育经费提取额",
            ),
            Field(
                "frontline_education",
                "amount",
                (
                    "一线职工教育培训经费支出",
                    "一线职工教育培训经费",
                    "一线职工教育经费支出",
                    "一线职工教育经费",
                    "用于一线职工的教育经费",
                    "frontline_education",
                    "frontline_education_yuan",
                ),
                column="frontline_education_yuan",
                label="一线职工教育培训经费支出",
            ),
        ),
        key=("credit_code", "reference_year"),
        key_label="unified social credit code and reference year",
        parts=(("frontline_education", "education_fund"), ("education_fund", "payroll")),
    ),
    "workers": Kind(
        "workers",
        "职工信息",
        (
            _ID_FIELD,
            Field(
                "employer",
                "uscc",
                (
                    "用人单位统一社会信用代码",
                    "单位统一社会信用代码",
                    "工作单位统一社会信用代码",
                    "统一社会信用代码",
                    "employer_credit_code",
                ),
                column="employer_credit_code",
                label="用人单位统一社会信用代码",
            ),
            Field("region", "region", (*_REGION, "region_code", "region"), True, "region_code", "行政区划代码"),
            Field("industry", "industry", _INDUSTRY, column="industry_code", label="行业代码"),
            Field("grade", "grade", _GRADE, column="skill_grade_code", label="技能等级"),
            Field("group", "group", _GROUP, column="worker_group_code", label="人员类别"),
            Field(
                "is_frontline", "flag", ("是否一线职工", "一线职工", "是否一线", "is_frontline"), label="是否一线职工"
            ),
            _REFERENCE_YEAR,
            Field(
                "craftsman_level",
                "title",
                (
                    "工匠称号",
                    "工匠层级",
                    "工匠级别",
                    "工匠类别",
                    "获评工匠称号",
                    "工匠荣誉称号",
                    "craftsman_level",
                    "craftsman_title",
                ),
                label="工匠称号",
            ),
            Field(
                "craftsman_year",
                "award_year",
                ("获评年份", "工匠获评年份", "称号获评年份", "获评年度", "craftsman_year"),
                label="获评年份",
            ),
        ),
        key=("worker_pseudonym", "employer_credit_code", "reference_year"),
        key_label="worker (ID number), employer and reference year",
        requires=(("craftsman_year", "craftsman_level"),),
    ),
    "trainings": Kind(
        "trainings",
        "职业技能培训",
        (
            _ID_FIELD,
            Field(
                "course",
                "text",
                ("培训项目", "培训项目名称", "课程名称", "培训课程", "培训内容", "course", "course_name"),
                required=True,
                column="course_name",
                label="培训项目",
            ),
            Field(
                "hours",
                "amount",
                ("培训学时", "学时", "培训课时", "课时", "hours", "training_hours"),
                required=True,
                label="培训学时",
            ),
            Field(
                "start_date",
                "date",
                ("开始日期", "培训开始日期", "开班日期", "培训日期", "start_date"),
                required=True,
                label="开始日期",
            ),
            Field(
                "provider",
                "text",
                ("培训机构", "培训机构名称", "承办机构", "provider", "provider_name"),
                column="provider_name",
            ),
        ),
        key=("worker_pseudonym", "course_name", "start_date"),
        key_label="worker (ID number), course and start date",
    ),
    "certifications": Kind(
        "certifications",
        "技能等级认定",
        (
            _ID_FIELD,
            Field("grade", "grade", _GRADE, required=True, column="skill_grade_code", label="技能等级"),
            Field("occupation_code", "occupation", _OCCUPATION_CODE, label="职业编码"),
            Field("occupation_name", "text", _OCCUPATION_NAME, label="职业名称"),
            Field(
                "certified_on",
                "date",
                ("发证日期", "认定日期", "取证日期", "证书日期", "核发日期", "certification_date", "certified_on"),
                required=True,
                label="发证日期",
            ),
            Field(
                "issuing_body",
                "text",
                ("发证机构", "评价机构", "认定机构", "发证单位", "issuing_body"),
            ),
        ),
        key=("worker_pseudonym", "skill_grade_code", "occupation_code", "occupation_name", "certified_on"),
        key_label="worker (ID number), grade, occupation and date",
        either=("occupation_code", "occupation_name"),
    ),
    "wages": Kind(
        "wages",
        "分职业分等级工资",
        (
            Field("occupation_code", "occupation", _OCCUPATION_CODE, label="职业编码"),
            Field("occupation_name", "text", _OCCUPATION_NAME, label="职业名称"),
            Field("grade", "grade", _GRADE, required=True, column="skill_grade_code", label="技能等级"),
            Field("region", "region", (*_REGION, "region_code", "region"), True, "region_code", "行政区划代码"),
            Field("year", "year", ("年份", "统计年度", "年度", "调查年度", "year"), required=True, label="年份"),
            Field(
                "monthly_wage",
                "amount",
                ("月平均工资", "月均工资", "月平均工资收入", "平均月工资", "monthly_wage", "monthly_wage_yuan"),
                required=True,
                column="monthly_wage_yuan",
                label="月平均工资",
            ),
            Field("headcount", "count", ("人数", "职工人数", "样本人数", "headcount"), required=True, label="人数"),
        ),
        key=("occupation_code", "occupation_name", "skill_grade_code", "region_code", "year"),
        key_label="occupation, grade, region and year",
        either=("occupation_code", "occupation_name"),
    ),
    "survey_responses": Kind(
        "survey_responses",
        "产业工人队伍状况调查",
        (
            Field(
                "respondent",
                "respondent",
                (
                    "问卷编号",
                    "受访者编号",
                    "样本编号",
                    "调查对象编号",
                    "受访者身份证号",
                    "身份证号",
                    "公民身份号码",
                    "respondent_id",
                ),
                required=True,
                column="respondent_id",
                label="问卷编号",
            ),
            Field("survey_year", "year", ("调查年份", "调查年度", "survey_year"), label="调查年份"),
            Field("region", "region", (*_REGION, "region_code", "region"), True, "region_code", "行政区划代码"),
            Field("group", "group", _GROUP, column="worker_group_code", label="人员类别"),
            Field(
                "design_weight",
                "weight",
                ("设计权重", "权重", "抽样权重", "样本权重", "design_weight", "weight"),
                required=True,
                label="权重",
            ),
            Field(
                "monthly_income",
                "amount",
                ("月收入", "月均收入", "月平均收入", "monthly_income", "monthly_income_yuan"),
                column="monthly_income_yuan",
                label="月收入",
            ),
            Field(
                "received_training",
                "flag",
                ("是否参加过培训", "是否参加培训", "参加过培训", "received_training"),
                label="是否参加过培训",
            ),
            Field(
                "satisfaction", "satisfaction", ("满意度", "工作满意度", "总体满意度", "satisfaction"), label="满意度"
            ),
            Field(
                "has_written_contract",
                "flag",
                ("是否签订书面劳动合同", "是否签订劳动合同", "签订劳动合同", "has_written_contract"),
                label="是否签订书面劳动合同",
            ),
        ),
        key=("respondent_id",),
        key_label="respondent id",
    ),
}


def output_columns(kind: str) -> list[str]:
    """The columns of ``raw.<kind>`` between ``row_number`` and ``received_at``, in order."""
    columns: list[str] = []
    for f in KIND_SPECS[kind].fields:
        if f.type == "id":
            columns += ["worker_pseudonym", "sex", "birth_year"]
        elif f.type == "respondent":
            columns += [f.output, f"{f.output}_is_pseudonym"]
        else:
            columns.append(f.output)
    return columns


# --------------------------------------------------------------------------------------------------
# Pure functions: kind, header, reference lookups
# --------------------------------------------------------------------------------------------------


def microdata_kind(path: Path, reprocess_as: Mapping[str, object] | None = None) -> str | None:
    """The kind of a received file (by :func:`detect_kind`), or of an archived one (by its audit record)."""
    if reprocess_as is not None:
        return str(reprocess_as["source"]) if reprocess_as.get("source") in KINDS else None
    return detect_kind(path)


def detect_kind(path: Path) -> str | None:
    """``inbox/microdata/<kind>/…`` or a file named ``<kind>_…``; None when the file is not microdata."""
    parts = [p.lower() for p in path.parts]
    for index, part in enumerate(parts[:-1]):
        if part == "microdata" and index + 1 < len(parts) - 1 and parts[index + 1] in KINDS:
            return parts[index + 1]
    name = path.name.lower()
    return next((kind for kind in KINDS if name.startswith(f"{kind}_")), None)


@dataclass(frozen=True)
class ColumnMap:
    """How the columns of one file map onto a kind's fields."""

    headers: tuple[str, ...]  # the header row as written
    fields: dict[str, int]  # field name → column index
    personal: frozenset[int]  # columns never read (names, phones, addresses, birth dates)
    multipliers: dict[str, int] = field(default_factory=dict)  # a header written 月工资(万元) → 10000

    def missing(self, kind: Kind) -> list[Field]:
        return [f for f in kind.fields if f.required and f.name not in self.fields]


def map_columns(cells: list[str], kind: Kind) -> ColumnMap:
    lookup = {header_key(alias): f.name for f in kind.fields for alias in f.aliases}
    fields: dict[str, int] = {}
    personal: set[int] = set()
    multipliers: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = header_key(cell)
        name = lookup.get(key)
        if name and name not in fields:
            fields[name] = index
            multiplier, _unit = header_unit(cell)
            if multiplier != 1:
                multipliers[name] = multiplier
        elif key in _PERSONAL_KEYS:
            personal.add(index)
    return ColumnMap(tuple(cells), fields, frozenset(personal), multipliers)


def find_header(head: str, kind: Kind) -> tuple[int, str, ColumnMap]:
    """Find the header row in the first lines of a file (title rows may come first).

    Returns (0-based line index of the header, delimiter, column map). Raises
    :class:`MicrodataFileError` (``no_header`` or ``missing_column``).
    """
    best: tuple[int, str, ColumnMap] | None = None
    for index, line in enumerate(re.split(r"\r\n|\n|\r", head)[:30]):  # the line breaks DuckDB counts
        for delimiter in (",", "\t", ";", "|"):
            if delimiter not in line and delimiter != ",":
                continue
            cells = next(csv.reader([line], delimiter=delimiter), [])
            mapping = map_columns(cells, kind)
            if len(mapping.fields) >= 2 and (best is None or len(mapping.fields) > len(best[2].fields)):
                best = (index, delimiter, mapping)
    if best is None:
        expected = "、".join(f.label or f.aliases[0] for f in kind.fields if f.required)
        raise MicrodataFileError(
            "no_header",
            f"no header row of a {kind.name} file ({kind.label_zh}) was found in the first 30 lines; "
            f"the first row should name the columns, e.g. {expected}.",
        )
    missing = best[2].missing(kind)
    if missing:
        names = "、".join(f.label or f.aliases[0] for f in missing)
        raise MicrodataFileError(
            "missing_column",
            f"the {kind.name} file ({kind.label_zh}) has no column for {names}; add it to the header row "
            f"(line {best[0] + 1}) and send the file again.",
        )
    return best


def lookup_key(text: str) -> str:
    """How a code or label is compared with the reference (the SQL side is ``md_key``)."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


# A few registration-type spellings and NBS 企业登记注册类型 codes (国统字〔2011〕86号) → ownership_code
OWNERSHIP_ALIASES = {
    "国有": "state_owned",
    "国有企业": "state_owned",
    "国有独资公司": "state_owned",
    "110": "state_owned",
    "151": "state_owned",
    "集体": "collective",
    "120": "collective",
    "股份合作企业": "mixed_joint_stock",
    "联营企业": "mixed_joint_stock",
    "有限责任公司": "mixed_joint_stock",
    "其他有限责任公司": "mixed_joint_stock",
    "股份有限公司": "mixed_joint_stock",
    "混合所有制": "mixed_joint_stock",
    "130": "mixed_joint_stock",
    "140": "mixed_joint_stock",
    "159": "mixed_joint_stock",
    "160": "mixed_joint_stock",
    "私营": "private",
    "民营": "private",
    "民营企业": "private",
    "私营有限责任公司": "private",
    "私营股份有限公司": "private",
    **{str(code): "private" for code in range(170, 175)},
    "港澳台": "hmt_invested",
    "港澳台投资": "hmt_invested",
    **{str(code): "hmt_invested" for code in (200, 210, 220, 230, 240)},
    "外资": "foreign_invested",
    "外商投资": "foreign_invested",
    "外商独资": "foreign_invested",
    **{str(code): "foreign_invested" for code in (300, 310, 320, 330, 340)},
    "个体": "individual",
    "个体工商户": "individual",
    "其他": "other",
    "190": "other",
}


# Craftsman titles (工匠称号) → the level codes of marts.fct_craftsmen_by_level. The national opinion sets
# 2035 targets for 大国工匠, 省级工匠 and 市级工匠; the plans name their own titles (“龙江大工匠”, the
# Heilongjiang provincial title; “丽江工匠”, Lijiang's city title).
CRAFTSMAN_TITLES = {
    "great_craftsman": ("大国工匠", "国家级工匠", "国家级", "全国", "national", "great_craftsman"),
    "provincial_craftsman": ("省级工匠", "省级", "省工匠", "龙江大工匠", "provincial", "provincial_craftsman"),
    "city_craftsman": ("市级工匠", "市级", "市工匠", "地市级工匠", "丽江工匠", "city", "city_craftsman"),
}
# what clerks write for "no title": the same as a blank cell
NO_TITLE = ("无", "否", "没有", "无称号", "none", "no", "-", "/", "—")


def title_lookup() -> list[tuple[str, str]]:
    """(key, level code) pairs of the craftsman titles; keys are :func:`lookup_key` forms."""
    return sorted({lookup_key(label): code for code, labels in CRAFTSMAN_TITLES.items() for label in labels}.items())


def reference_lookups(seeds_dir: Path = SEEDS_DIR) -> dict[str, list[tuple[str, str]]]:
    """(key, code) pairs per lookup, from the dbt seeds; keys are :func:`lookup_key` forms."""
    return _reference_lookups(str(seeds_dir))


@lru_cache(maxsize=4)
def _reference_lookups(seeds_dir: str) -> dict[str, list[tuple[str, str]]]:
    folder = Path(seeds_dir)
    tables: dict[str, dict[str, str]] = {n: {} for n in ("region", "industry", "ownership", "grade", "group")}

    def add(table: str, label: str | None, code: str) -> None:
        if label:
            tables[table].setdefault(lookup_key(label), code)

    for row in read_seed("regions", folder):
        if not row["valid_to"] and row["level"] != "national":
            add("region", row["region_code"], row["region_code"])
    for row in read_seed("industries", folder):
        if row["level"] == "division":
            add("industry", row["industry_code"], row["industry_code"])
            add("industry", f"{row['section_code']}{row['industry_code']}", row["industry_code"])
    for row in read_seed("ownership_types", folder):
        for label in (row["ownership_code"], row["name_zh"], row["name_en"]):
            add("ownership", label, row["ownership_code"])
    known_ownership = {row["ownership_code"] for row in read_seed("ownership_types", folder)}
    for label, code in OWNERSHIP_ALIASES.items():
        if code in known_ownership:
            add("ownership", label, code)
    for row in read_seed("skill_grades", folder):
        code, name, level = row["grade_code"], row["name_zh"], row["national_vocational_level"]
        for label in (code, name, row["name_en"], name.removesuffix("工") if name.endswith("级工") else None):
            add("grade", label, code)
        if level:
            for label in (level, f"{level}/{name}", f"{name}/{level}", f"国家职业资格{level}", f"{name}({level})"):
                add("grade", label, code)
    for row in read_seed("worker_groups", folder):
        for label in (row["group_code"], row["name_zh"], row["name_en"]):
            add("group", label, row["group_code"])
    return {name: sorted(pairs.items()) for name, pairs in tables.items()}


def retired_regions(seeds_dir: Path = SEEDS_DIR) -> list[tuple[str, str]]:
    """(code, date it stopped being valid) for codes that have been replaced."""
    return [(r["region_code"], r["valid_to"]) for r in read_seed("regions", seeds_dir) if r["valid_to"]]


@lru_cache(maxsize=1)
def ric_address_codes() -> tuple[tuple[str, int | None, int | None], ...]:
    """The address codes python-stdnum accepts in resident ID numbers, with their years of validity.

    One row per (six-digit code, first year, last year); a code renamed over time has several rows.
    ``stdnum.cn.ric.get_birth_place`` accepts a number when one of its rows covers the birth year.
    """
    from stdnum import numdb

    rows: list[tuple[str, int | None, int | None]] = []
    for _length, low, high, _props, children in numdb.get("cn/loc").prefixes:
        for province in range(int(low), int(high) + 1):
            for _length2, low2, high2, props, _children in children:
                for county_part in range(int(low2), int(high2) + 1):
                    code = f"{province:02d}{county_part:04d}"
                    for county in props.get("county", "").split(","):
                        match = re.match(r"^\[(\d*)-(\d*)\]", county)
                        if not match:
                            rows.append((code, None, None))
                        else:
                            start, end = match.groups()
                            rows.append((code, int(start) if start else None, int(end) if end else None))
    return tuple(rows)


# --------------------------------------------------------------------------------------------------
# SQL: the check-digit / check-character functions and the cleaning macros
# --------------------------------------------------------------------------------------------------

RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(17-i) mod 11
RIC_CHECK = "10X98765432"  # check character for (weighted sum mod 11) = 0, 1, …, 10
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3^(i-1) mod 31
_FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000\u00a0"
_HALFWIDTH = "".join(chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)) + "  "
_FULLWIDTH_CLASS = "[\\x{FF01}-\\x{FF5E}\\x{3000}\\x{00A0}]"  # RE2 syntax
_BLANK_PATTERN = "[\\s\\x{3000}\\x{00A0}]*"
_EDGE_SPACE = "^[ \\t\\n\\r]|[ \\t\\n\\r]$"  # RE2: a cell that md_clean's trim() would change
# RE2: a superset of what ingest.submissions.scrub_personal_data replaces, for md_scrub's cheap gate.
# Its ID numbers (18 characters, 15 digits, or 6-8-4 or 6-12 groups with one separator between) hold 15
# digits in a row or 6, one character, 8; its mobile numbers (after no half- or full-width digit: an
# optional +86 and separator, 1[3-9]\d half- or full-width, then twice an optional separator and 4
# digits; Python's \d is any decimal digit, its \s any space) hold 1[3-9], a digit, at most one
# character and 4 digits; its landlines a 0, 2 or 3 digits, 1 or 2 other characters and 7 digits. A
# region code or credit code (6 or 8 digits, a 1 after a digit) does not open the gate
_SCRUB_GATE = (
    "\\p{Nd}{15}|\\p{Nd}{6}(?s:.)\\p{Nd}{8}"
    "|(?:^|[^0-9\\x{FF10}-\\x{FF19}])[+\\x{FF0B}]?(?:86(?s:.)?)?[1\\x{FF11}][3-9\\x{FF13}-\\x{FF19}]\\p{Nd}(?s:.)?\\p{Nd}{4}"
    "|[0\\x{FF10}]\\p{Nd}{2,3}\\P{Nd}{1,2}\\p{Nd}{7}"
)

RIC_PROBLEMS = {
    "missing": "the ID number (公民身份号码) is blank",
    "length": "the ID number (公民身份号码) does not have 18 characters",
    "format": "the ID number (公民身份号码) must be 17 digits followed by a digit or X",
    "checksum": "the check digit of the ID number (公民身份号码, last character) does not match the "
    "first 17 digits; a digit was probably mistyped",
    "birth_date": "the birth date inside the ID number (公民身份号码, digits 7–14) is not a real date",
    "address": "the first six digits of the ID number (公民身份号码) are not a region code that existed in "
    "the birth year",
    "future": "the birth year inside the ID number (公民身份号码) is after the date the file was received",
}
USCC_PROBLEMS = {
    "missing": "is blank",
    "length": "does not have 18 characters",
    "format": "must start with 8 digits followed by digits or capital letters other than I, O, S, V, Z",
    "checksum": "fails its check character (the last one); compare it with the business licence",
}


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _weighted_sum(expr: str, weights: tuple[int, ...], value_of: Callable[[str], str]) -> str:
    return " + ".join(f"{w} * {value_of(f'substr({expr}, {i}, 1)')}" for i, w in enumerate(weights, 1))


def ric_weighted_sum_sql(number: str) -> str:
    """SQL for a number ≡ the GB 11643 weighted sum of the digits of ``number`` (mod 11), where
    ``number`` is the first 17 digits of an ID number as a BIGINT.

    With digit d_k at 10^k and weight W_k (2^k mod 11), the sum is Σ W_k (q_k − 10 q_{k+1}) for
    q_k = number // 10^k, that is Σ c_k q_k with c_0 = W_0 and c_k = W_k + W_{k−1} (mod 11, as −10 ≡ 1):
    16 integer divisions instead of 17 substrings (which cost 2.5 times as much). At most
    10 × 1.12 × 10^17: no BIGINT overflow.
    """
    weights = RIC_WEIGHTS[::-1]  # W_k for k = 0 (the 17th digit) … 16 (the first)
    coefficients = [weights[0]] + [(weights[k] + weights[k - 1]) % 11 for k in range(1, 17)]
    return " + ".join(
        f"{c} * ({number} // {10**k})" if k else f"{c} * {number}" for k, c in enumerate(coefficients) if c
    )


def uscc_check_char_sql(expr: str) -> str:
    """SQL for the GB 32100 check character of an 18-character credit code held in ``expr`` (no macro)."""
    total = _weighted_sum(expr, USCC_WEIGHTS, lambda c: f"(instr('{USCC_ALPHABET}', {c}) - 1)")
    return f"substr('{USCC_ALPHABET}', ((31 - (({total}) % 31)) % 31) + 1, 1)"


# md_code's fast path: the text is already a compact upper-case code; the general expression after it
_COMPACT_CODE = "[0-9A-Z]+"
_GENERAL_CODE = "nullif(upper(replace(replace(md_clean(s), ' ', ''), '-', '')), '')"


def sql_macros() -> list[str]:
    """The macros every check uses; created on each scratch connection (and in the tests)."""
    ric_sum = ric_weighted_sum_sql("n")
    return [
        # text as typed → trimmed, full-width letters/digits/punctuation made ASCII, '' → null; translate()
        # and trim() with a list of characters are slow, so they only run on the few cells that hold a
        # full-width character or start or end with white space (one regular expression finds both)
        f"create or replace macro md_clean(s) as (case when regexp_matches(s, '{_FULLWIDTH_CLASS}|{_EDGE_SPACE}') "
        f"then nullif(trim(case when regexp_matches(s, '{_FULLWIDTH_CLASS}') "
        f"then translate(s, {sql_literal(_FULLWIDTH)}, {sql_literal(_HALFWIDTH)}) else s end, "
        "' ' || chr(9) || chr(10) || chr(13)), '') else nullif(s, '') end)",
        # a code as typed → compact and upper-case; a cell already so (nearly every ID number and credit
        # code) is returned as it is: a third of the cost of the general expression, which gives the same
        f"create or replace macro md_code(s) as (case when regexp_full_match(s, '{_COMPACT_CODE}') then s "
        f"else {_GENERAL_CODE} end)",
        "create or replace macro md_key(s) as lower(replace(md_clean(s), ' ', ''))",
        # GB 11643 / ISO 7064 MOD 11-2: check character of an 18-character ID number (17 digits assumed;
        # null for any other text)
        f"create or replace macro ric_check_char_of(n) as substr('{RIC_CHECK}', (({ric_sum}) % 11) + 1, 1)",
        "create or replace macro ric_digits(s) as try_cast(left(s, 17) as bigint)",
        "create or replace macro ric_check_char(s) as ric_check_char_of(ric_digits(s))",
        # null when python-stdnum's cn.ric.is_valid would accept s (compact, upper-case); address_ok is
        # ric_address_ok(left(s, 6), year), a function (see install_sql)
        # digits is ric_digits(s), a column computed before: DuckDB computes a repeated expression once
        # only outside a CASE
        "create or replace macro ric_problem(s, digits, address_ok) as (case "
        "when s is null then 'missing' "
        "when length(s) <> 18 then 'length' "
        "when not regexp_full_match(s, '[0-9]{17}[0-9X]') then 'format' "
        "when right(s, 1) <> ric_check_char_of(digits) then 'checksum' "
        "when substr(s, 7, 4) = '0000' or try_strptime(substr(s, 7, 8), '%Y%m%d') is null then 'birth_date' "
        "when not address_ok then 'address' "
        "end)",
        "create or replace macro ric_area(s) as left(s, 6)",
        "create or replace macro ric_birth_year(s) as try_cast(substr(s, 7, 4) as integer)",
        # GB 32100: check character of an 18-character unified social credit code
        f"create or replace macro uscc_check_char(s) as {uscc_check_char_sql('s')}",
        # null when python-stdnum's cn.uscc.is_valid would accept s (already compact and upper-case)
        "create or replace macro uscc_problem(s) as (case "
        "when s is null then 'missing' "
        "when length(s) <> 18 then 'length' "
        "when not regexp_full_match(s, '[0-9]{8}[0-9A-HJ-NP-RTUWXY]{10}') then 'format' "
        "when right(s, 1) <> uscc_check_char(s) then 'checksum' "
        "end)",
        # numbers as typed: 1,234 / １２３ / 6500元 / 0.65万 / 0.65万元. md_number_text(t) reads text already
        # cleaned by md_clean; plain digits (nearly every cell) are cast without the general expression
        # (thousands grouped by 3 only: 1,2,3 is not 123); md_number_compact reads text without spaces.
        # 0.57万 is 5699.999999999999 in floating point: rounded, it is the whole number a count needs;
        # + 0.0 makes -0 plain 0
        "create or replace macro md_number_lead(u) as "
        "cast(regexp_extract(replace(u, ',', ''), '^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)') as double)",
        "create or replace macro md_number_compact(u) as (case "
        "when regexp_full_match(u, '[+-]?([0-9]{1,3}(,[0-9]{3})+(\\.[0-9]*)?|[0-9]+(\\.[0-9]*)?|\\.[0-9]+)"
        "(万元|万|元)?') "
        "then (case when u like '%万%' then round(md_number_lead(u) * 10000, 6) else md_number_lead(u) end) + 0.0 end)",
        "create or replace macro md_number_any(t) as md_number_compact(replace(replace(t, '，', ','), ' ', ''))",
        "create or replace macro md_number_text(t) as (case "
        "when regexp_full_match(t, '[0-9]+(\\.[0-9]+)?') then cast(t as double) else md_number_any(t) end)",
        "create or replace macro md_number(s) as md_number_text(md_clean(s))",
        "create or replace macro md_flag(s) as (case "
        "when md_key(s) in ('是', 'y', 'yes', '1', 'true', 't', '有', '√') then true "
        "when md_key(s) in ('否', 'n', 'no', '0', 'false', 'f', '无', '×') then false end)",
        # dates as typed: 2025-03-01, 2025/3/1, 2025.3.1, 2025年3月1日, 20250301, 2025-03-01 00:00:00.
        # md_date_text(t) reads cleaned text; for yyyy-mm-dd (nearly every cell) a cast gives what
        # strptime gives (tested), at a third of the cost
        "create or replace macro md_date_any(t) as (case "
        "when regexp_full_match(t, '[0-9]{8}') then cast(try_strptime(t, '%Y%m%d') as date) "
        "else cast(try_strptime(regexp_replace(regexp_replace(t, '[年月/.]', '-', 'g'), "
        "'(日.*|[ T].*)$', ''), '%Y-%m-%d') as date) end)",
        "create or replace macro md_date_text(t) as (case "
        "when regexp_full_match(t, '[0-9]{4}-[0-9]{2}-[0-9]{2}') then try_cast(t as date) else md_date_any(t) end)",
        "create or replace macro md_date(s) as md_date_text(md_clean(s))",
        "create or replace macro md_year(s) as (case when regexp_full_match(md_clean(s), '[0-9]{4}(年|年度)?') "
        "then cast(left(md_clean(s), 4) as integer) end)",
        "create or replace macro md_satisfaction(s) as (case "
        "when regexp_full_match(md_clean(s), '[0-9]+') then try_cast(md_clean(s) as integer) "
        "when md_key(s) in ('非常不满意', '很不满意') then 1 when md_key(s) in ('不满意', '比较不满意') then 2 "
        "when md_key(s) = '一般' then 3 when md_key(s) in ('满意', '比较满意') then 4 "
        "when md_key(s) in ('非常满意', '很满意') then 5 end)",
        # free text: ID numbers inside it replaced by <id:pseudonym>, mobile numbers by <phone>; the Python
        # regex runs only on the cells the gate finds (_SCRUB_GATE: every shape it handles, and a few more)
        f"create or replace macro md_scrub(s) as "
        f"(case when regexp_matches(s, '{_SCRUB_GATE}') then md_scrub_ids(s) else s end)",
    ]


def _string_udf(function: Callable[[str], str]) -> Callable[[pa.Array], pa.Array]:
    def vectorised(values: pa.Array) -> pa.Array:  # one DuckDB vector (2,048 rows) at a time
        return pa.array([None if v is None else function(v) for v in values.to_pylist()], pa.string())

    return vectorised


def lookup_macro(name: str, pairs: list[tuple[str, str]]) -> str:
    """``name(key)``: the value of the first pair with that key, null for an unknown or null key.

    The keys are an ENUM type written in the macro: DuckDB casts a string to an ENUM with a hash
    lookup, in its own threads, and ``enum_code`` indexes a list of the values. The reference checks
    look codes up this way, not with a join: a statement without joins keeps a parallel read's rows
    in file order (see :func:`_keeps_file_order`), so the lake files need no sort when they are
    written. (An Arrow function per vector did the same at four times the cost.)
    """
    first: dict[str, str] = {}
    for key, value in pairs:
        first.setdefault(key, value)
    if not first:
        return f"create or replace macro {name}(k) as null::varchar"
    keys = ", ".join(sql_literal(k) for k in first)
    values = ", ".join(sql_literal(v) for v in first.values())
    return f"create or replace macro {name}(k) as [{values}][enum_code(try_cast(k as enum({keys}))) + 1]"


def _address_udf() -> Callable[[pa.Array, pa.Array], pa.Array]:
    """ric_address_ok(area, birth_year): whether one of the code's rows of :func:`ric_address_codes`
    covers the birth year (a null year is covered only by a row open at both ends), as stdnum decides."""
    ranges: dict[str, list[tuple[int | None, int | None]]] = {}
    for code, first, last in ric_address_codes():
        ranges.setdefault(code, []).append((first, last))
    codes = pa.array(list(ranges), pa.string())
    most = max(len(r) for r in ranges.values())
    present = [pa.array([len(r) > i for r in ranges.values()], pa.bool_()) for i in range(most)]
    firsts = [pa.array([r[i][0] if len(r) > i else None for r in ranges.values()], pa.int32()) for i in range(most)]
    lasts = [pa.array([r[i][1] if len(r) > i else None for r in ranges.values()], pa.int32()) for i in range(most)]

    def address_ok(areas: pa.Array, years: pa.Array) -> pa.Array:
        index = pc.index_in(areas, value_set=codes)
        ok = None
        for has, first, last in zip(present, firsts, lasts, strict=True):
            f, la = pc.take(first, index), pc.take(last, index)
            covered = pc.and_kleene(
                pc.or_kleene(pc.is_null(f), pc.less_equal(f, years)),
                pc.or_kleene(pc.is_null(la), pc.greater_equal(la, years)),
            )
            term = pc.fill_null(pc.and_kleene(pc.take(has, index), covered), False)
            ok = term if ok is None else pc.or_(ok, term)
        return ok

    return address_ok


def install_sql(con: duckdb.DuckDBPyConnection, key: bytes | None = None, seeds_dir: Path = SEEDS_DIR) -> None:
    """Create the functions and macros the checks need on ``con`` (``key``: the pseudonym key,
    default ``REFORM_PSEUDONYM_KEY``): ``md_lookup_<name>(key)`` for each reference lookup,
    ``md_retired_on(code)``, ``ric_address_ok(area, birth_year)`` and the macros of :func:`sql_macros`."""
    from duckdb.sqltypes import BOOLEAN, INTEGER, VARCHAR

    pseudonymise = make_pseudonymiser(key)
    con.execute(pseudonym_sql_macro("md_pseudonymise", key))  # in SQL: no Python call per ID number
    con.create_function(
        "md_scrub_ids",
        _string_udf(lambda text: scrub_personal_data(text, pseudonymise)),
        [VARCHAR],
        VARCHAR,
        type="arrow",
        null_handling="special",
    )
    con.create_function(
        "ric_address_ok", _address_udf(), [VARCHAR, INTEGER], BOOLEAN, type="arrow", null_handling="special"
    )
    lookups = {f"md_lookup_{name}": pairs for name, pairs in reference_lookups(seeds_dir).items()}
    lookups |= {"md_lookup_title": title_lookup(), "md_retired_on": retired_regions(seeds_dir)}
    for sql_name, pairs in lookups.items():
        con.execute(lookup_macro(sql_name, pairs))
    for statement in sql_macros():
        con.execute(statement)


# --------------------------------------------------------------------------------------------------
# SQL: one kind's check query
# --------------------------------------------------------------------------------------------------

_LOOKUP_KEY_SQL = {
    "region": "md_code({x})",
    # a 3- or 4-digit GB/T 4754 group/class code belongs to the division of its first two digits
    "industry": "lower(nullif(regexp_extract(md_code({x}), '^([A-T]?[0-9]{{2}})[0-9]{{0,2}}$', 1), ''))",
    "ownership": "md_key({x})",
    "grade": "md_key({x})",
    "group": "md_key({x})",
    "title": "md_key({x})",
}
# the macro that parses each type of cell: a check, its message and the output use its result, p_<field>
_PARSERS = {
    "flag": "md_flag",
    "count": "md_number_text",
    "amount": "md_number_text",
    "weight": "md_number_text",
    "date": "md_date_text",
    "year": "md_year",
    "ref_year": "md_year",
    "award_year": "md_year",
    "satisfaction": "md_satisfaction",
}
_OUTPUT_TYPES = {
    "text": "varchar",
    "uscc": "varchar",
    "region": "varchar",
    "industry": "varchar",
    "ownership": "varchar",
    "grade": "varchar",
    "group": "varchar",
    "occupation": "varchar",
    "flag": "boolean",
    "count": "bigint",
    "amount": "double",
    "weight": "double",
    "date": "date",
    "year": "integer",
    "ref_year": "integer",
    "award_year": "integer",
    "title": "varchar",
    "satisfaction": "integer",
}


@dataclass(frozen=True)
class Check:
    reason: str
    condition: str  # SQL over the `chk` columns: true when the row fails
    message: str  # SQL string expression, evaluated only for failing rows


def _label(f: Field) -> str:
    return f.label or f.aliases[0]


def _quoted(expr: str) -> str:
    """A cell value inside a message, in “…” quotes, scrubbed of ID numbers."""
    return f"'“' || coalesce(md_scrub({expr}), '') || '”'"


def field_checks(f: Field, received: str) -> list[Check]:
    """The checks of one field, in order; ``received`` is the receipt date as an SQL literal."""
    v, code, label, p = f"f_{f.name}", f"j_{f.name}", _label(f), f"p_{f.name}"
    checks: list[Check] = []
    if f.type == "id":
        checks.append(Check("missing_field", "id_problem = 'missing'", f"'the {label} is blank; every row needs one.'"))
        problem_messages = " ".join(
            f"when {sql_literal(k)} then {sql_literal(m + '.')}" for k, m in RIC_PROBLEMS.items()
        )
        checks.append(Check("bad_id_number", "id_problem is not null", f"(case id_problem {problem_messages} end)"))
        return checks
    if f.required:
        checks.append(
            Check(
                "missing_field",
                f"{v} is null",
                f"'the {label} column is blank in this row; fill it in.'",
            )
        )
    if f.type == "uscc":
        problems = " ".join(f"when {sql_literal(k)} then {sql_literal(m)}" for k, m in USCC_PROBLEMS.items())
        checks.append(
            Check(
                "bad_credit_code",
                f"{v} is not null and uscc_problem({v}) is not null",
                f"'the unified social credit code ({label}) ' || {_quoted(v)} || ' ' || "
                f"(case uscc_problem({v}) {problems} end) || '.'",
            )
        )
    elif f.type == "region":
        checks.append(
            Check(
                "unknown_region",
                f"{v} is not null and {code} is null",
                f"'the region code ({label}) ' || {_quoted(v)} || coalesce(' was replaced on ' || "
                f"md_retired_on({v}) || '; use the current code.', "
                f"' is not a current GB/T 2260 code in the reference data; use the six-digit code, e.g. 530702.')",
            )
        )
    elif f.type == "industry":
        checks.append(
            Check(
                "unknown_industry",
                f"{v} is not null and {code} is null",
                f"'the industry code ({label}) ' || {_quoted(v)} || ' is not a GB/T 4754-2017 division; "
                f"write the two-digit division (01–97), e.g. 33 for 金属制品业.'",
            )
        )
    elif f.type in ("ownership", "grade", "group"):
        reason, examples = {
            "ownership": ("unknown_ownership", "国有企业, 私营企业 or the registration type code 170"),
            "grade": ("unknown_grade", "学徒工, 初级工, 中级工, 高级工, 技师, 高级技师, 特级技师 or 首席技师"),
            "group": ("unknown_group", "农民工, 新就业形态劳动者 or 技术工人"),
        }[f.type]
        checks.append(
            Check(
                reason,
                f"{v} is not null and {code} is null",
                f"'the {label} ' || {_quoted(v)} || ' is not in the reference list; use e.g. {examples}.'",
            )
        )
    elif f.type == "flag":
        checks.append(
            Check(
                "bad_flag",
                f"{v} is not null and {p} is null",
                f"'the {label} ' || {_quoted(v)} || ' is not a yes/no answer; write 是 or 否.'",
            )
        )
    elif f.type in ("count", "amount"):
        # a count is stored as a BIGINT: one beyond its range is refused here, not by the output's cast
        whole = f" or {p} <> floor({p}) or abs({p}) > {COUNT_LIMIT:.0e}" if f.type == "count" else ""
        what = "a whole number" if f.type == "count" else "a number"
        too_large = (
            f"case when abs({p}) > {COUNT_LIMIT:.0e} then ' is too large for a number of people; check the digits "
            f"and the unit.' else ' is not {what}; write digits only, e.g. 1234.' end"
            if f.type == "count"
            else f"' is not {what}; write digits only, e.g. 1234.'"
        )
        checks += [
            Check(
                "not_a_number",
                f"{v} is not null and ({p} is null or not isfinite({p}){whole})",
                f"'the {label} ' || {_quoted(v)} || {too_large}",
            ),
            Check(
                "negative_value",
                f"{p} < 0",
                f"'the {label} ' || {_quoted(v)} || ' is negative; it cannot be below 0.'",
            ),
        ]
    elif f.type == "weight":
        checks.append(
            Check(
                "bad_weight",
                f"{p} is null or not isfinite({p}) or {p} <= 0",
                f"'the design weight ({label}) ' || {_quoted(v)} || ' must be a number above 0.'",
            )
        )
    elif f.type == "date":
        checks.append(
            Check(
                "bad_date",
                f"{v} is not null and ({p} is null or {p} < date '{EARLIEST_DATE}' or {p} > {received})",
                f"'the {label} ' || {_quoted(v)} || (case when {p} is null "
                f"then ' is not a date; write it as 2025-03-01.' "
                f"else ' is not between {EARLIEST_DATE} and the day the file was received.' end)",
            )
        )
    elif f.type == "year":
        checks += [
            Check(
                "bad_period",
                f"{v} is not null and {p} is null",
                f"'the {label} ' || {_quoted(v)} || ' is not a year; write four digits, e.g. 2025.'",
            ),
            Check(
                "period_out_of_calendar",
                f"{p} not between {CALENDAR_FIRST_YEAR} and {CALENDAR_LAST_YEAR}",
                f"'the {label} ' || {_quoted(v)} || ' is outside the reporting calendar "
                f"({CALENDAR_FIRST_YEAR}–{CALENDAR_LAST_YEAR}).'",
            ),
        ]
    elif f.type == "ref_year":
        checks.append(
            Check(
                "bad_year",
                f"{v} is not null and coalesce({p} not between {CALENDAR_FIRST_YEAR} and {CALENDAR_LAST_YEAR}, true)",
                f"'the {label} ' || {_quoted(v)} || (case when {p} is null "
                f"then ' is not a year; write four digits, e.g. 2025.' "
                f"else ' is outside the reporting calendar ({CALENDAR_FIRST_YEAR}–{CALENDAR_LAST_YEAR}).' end)",
            )
        )
    elif f.type == "award_year":
        first = EARLIEST_DATE[:4]
        checks.append(
            Check(
                "bad_year",
                f"{v} is not null and coalesce({p} not between {first} and year({received}), true)",
                f"'the {label} ' || {_quoted(v)} || (case when {p} is null "
                f"then ' is not a year; write four digits, e.g. 2023.' "
                f"else ' is not between {first} and the year the file was received.' end)",
            )
        )
    elif f.type == "title":
        no_title = ", ".join(sql_literal(lookup_key(t)) for t in NO_TITLE)
        checks.append(
            Check(
                "unknown_title",
                f"{v} is not null and {code} is null and md_key({v}) not in ({no_title})",
                f"'the {label} ' || {_quoted(v)} || ' is not a craftsman title; write 大国工匠, 省级工匠 or "
                f"市级工匠, or leave the cell blank when the worker holds none.'",
            )
        )
    elif f.type == "satisfaction":
        checks.append(
            Check(
                "out_of_range",
                f"{v} is not null and coalesce({p} not between 1 and 5, true)",
                f"'the {label} ' || {_quoted(v)} || ' must be 1 to 5 (1 = 非常不满意, 5 = 非常满意).'",
            )
        )
    elif f.type == "occupation":
        checks.append(
            Check(
                "bad_occupation_code",
                f"{v} is not null and not regexp_full_match({v}, '[1-8]-[0-9]{{2}}(-[0-9]{{2}}){{0,2}}')",
                f"'the occupation code ({label}) ' || {_quoted(v)} || ' is not a 职业分类大典 code like 6-18-01-01.'",
            )
        )
    return checks


def _parsed_sql(f: Field, multiplier: int) -> str:
    """The parsed value (``p_<field>``) of a cell of a type in ``_PARSERS``. A number under a header with
    a unit (月工资(万元), 职工人数(万人)) is multiplied by it, unless the cell names its own unit (7.18万,
    6500元); rounded to six decimals, so that 0.57 × 10000 is the whole number 5700 a count needs."""
    parsed = f"{_PARSERS[f.type]}(f_{f.name})"
    if multiplier == 1 or f.type not in ("count", "amount", "weight"):
        return parsed
    v = f"f_{f.name}"
    return f"round({parsed} * (case when {v} like '%万%' or {v} like '%元' then 1 else {multiplier} end), 6)"


def _output_sql(f: Field) -> list[tuple[str, str]]:
    v, code, p = f"f_{f.name}", f"j_{f.name}", f"p_{f.name}"
    if f.type == "id":
        return [
            ("worker_pseudonym", "case when id_problem is null then id_pseudonym end"),
            (
                "sex",
                "case when id_problem is null then "
                "(case when (ascii(id_sex_digit) - 48) % 2 = 1 then 'male' else 'female' end) end",
            ),
            ("birth_year", "case when id_problem is null then birth_year end"),
        ]
    if f.type == "respondent":
        return [
            (f.output, "respondent_pseudonym"),
            (f"{f.output}_is_pseudonym", "respondent_pseudonym is not null"),
        ]
    expr = {
        "text": f"md_scrub({v})",
        "uscc": v,
        "occupation": v,
        "flag": p,
        "count": f"cast({p} as bigint)",
        "amount": p,
        "weight": p,
        "date": p,
        "year": p,
        "ref_year": p,
        "award_year": p,
        "satisfaction": p,
    }.get(f.type, code)
    return [(f.output, f"cast({expr} as {_OUTPUT_TYPES[f.type]})")]


@dataclass(frozen=True)
class Layout:
    """How DuckDB is told to read one file."""

    path: Path  # UTF-8 text
    delimiter: str
    skip: int  # lines before the first data row (title rows and the header)
    width: int  # header cells
    replaced: bool = False  # bytes that were not UTF-8 are U+FFFD in the text: rows holding one are refused


def read_csv_sql(layout: Layout, parallel: bool = False) -> str:
    columns = {f"c{i}": "VARCHAR" for i in range(layout.width)} | {f"x{i}": "VARCHAR" for i in range(SPARE_COLUMNS)}
    struct = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in columns) + "}"
    return (
        f"read_csv({sql_literal(str(layout.path))}, header = false, skip = {layout.skip}, columns = {struct}, "
        f"auto_detect = false, delim = {sql_literal(layout.delimiter)}, quote = '\"', escape = '\"', "
        # empty cells read as '' and only cells missing from a short row as null, so that a row with
        # more cells than the header is seen even when the extra cells are empty
        f"null_padding = true, nullstr = '{ABSENT}', strict_mode = false, "
        f"parallel = {str(parallel).lower()}, encoding = 'utf-8'"
        + (f", buffer_size = {READ_BUFFER_BYTES})" if parallel and READ_BUFFER_BYTES else ")")
    )


def stage_sql(kind: Kind, cmap: ColumnMap, layout: Layout, parallel: bool = False) -> str:
    """Read the file and number its rows; check and pseudonymise ID numbers on the way.

    This statement does the least it can: blank and malformed rows, the ID-number checks and the
    pseudonym (so that the raw ID number is never stored, not even in the scratch file). Names and
    other personal columns are never selected. Everything else is checked by :func:`check_sql`.

    ``parallel=False``: DuckDB reads on one thread and ``row_number() over ()`` numbers the rows in
    file order before anything else happens to them. ``parallel=True``: no row number is selected;
    the rows are inserted in file order (see :func:`_read`) and :func:`check_sql` numbers them by
    ``rowid``.
    """
    width = layout.width
    all_cells = [f"c{i}" for i in range(width)] + [f"x{i}" for i in range(SPARE_COLUMNS)]
    id_index = _id_index(kind, cmap)
    respondent_index = _respondent_index(kind, cmap)
    delim = sql_literal(layout.delimiter)
    cat = ", ".join(all_cells)
    swallowed = " or ".join(
        f"(strpos(c{i}, chr(10)) > 0 and length(c{i}) - length(replace(c{i}, {delim}, '')) >= {max(width - 1, 1)})"
        for i in range(width)
    )
    # a row with fewer cells than the header: DuckDB pads it with nulls (an empty cell is '', see
    # read_csv_sql); unnamed columns at the end of the header (a trailing comma) may be left out
    last_named = max((i for i, h in enumerate(cmap.headers) if h.strip()), default=width - 1)
    cells = [
        *([] if parallel else [f"cast(rn + {layout.skip} as integer) as row_number"]),
        f"regexp_full_match(concat({cat}), '{_BLANK_PATTERN}') as blank",
        f"c{last_named} is null as short",
        # the lines an unclosed quote read into this row's cell (they are not rows of their own)
        f"case when {swallowed} then length(concat({cat})) - length(replace(concat({cat}), chr(10), '')) "
        "else 0 end as swallowed_lines",
        *([f"strpos(concat({cat}), chr(65533)) > 0 as replaced"] if layout.replaced else []),
        f"(coalesce({', '.join(f'x{i}' for i in range(SPARE_COLUMNS))}) is not null or c{last_named} is null "
        f"or {swallowed}) as malformed",
        *(f"c{i} as cell_{i}" for i in _kept(kind, cmap)),
    ]
    areas: list[str] = []
    dropped: list[str] = []
    derived: list[str] = []
    if id_index is not None:
        cells.append(f"md_code(c{id_index}) as id_clean")
        areas += [
            "ric_area(id_clean) as id_area",
            "ric_birth_year(id_clean) as birth_year_sql",
            "ric_digits(id_clean) as id_digits",
        ]
        dropped += ["id_clean", "id_digits"]
        # every check of the number but its address code, which check_sql does from the area and birth
        # year kept here (ric_address_ok); the raw number itself never leaves this statement
        derived += [
            "ric_problem(id_clean, id_digits, true) as id_problem_sql",
            "md_pseudonymise(id_clean) as id_pseudonym",
            "substr(id_clean, 17, 1) as id_sex_digit",
        ]
    if respondent_index is not None:
        # whatever the respondent column holds (an ID number of 18 or 15 characters, a phone number, a
        # questionnaire number) is replaced by its pseudonym, of the compact form an ID column stores
        cells.append(f"md_code(c{respondent_index}) as respondent_clean")
        dropped.append("respondent_clean")
        derived.append("md_pseudonymise(respondent_clean) as respondent_pseudonym")
    kept = f"* exclude ({', '.join(dropped)})" if dropped else "*"
    return f"""
with
src as (select {"" if parallel else "row_number() over () as rn, "}* from {read_csv_sql(layout, parallel)}),
cells as (select {", ".join(cells)} from src),
areas as (select *{"".join(", " + a for a in areas)} from cells)
select {", ".join([kept, *derived])} from areas
"""


def check_sql(
    kind: Kind, cmap: ColumnMap, layout: Layout, received_on: str, numbered_by_rowid: bool = False
) -> tuple[str, list[str]]:
    """The query over the staged rows that cleans and checks every cell. Returns (SQL, reason codes).

    ``numbered_by_rowid``: ``staged`` holds the rows in file order without a ``row_number`` (the
    parallel read of :func:`stage_sql`); the row number is then ``rowid`` + the lines skipped + 1.

    Each result row has ``row_number``, ``blank``, the file's non-personal cells (``cell_<i>``), the
    raw-table columns (``o_<name>``), ``id_token`` (the ``<id:…>`` form of an ID cell), ``failed`` (the
    1-based index of the first failing check) and ``message``.
    """
    received = f"date {sql_literal(received_on)}"
    id_index = _id_index(kind, cmap)
    respondent_index = _respondent_index(kind, cmap)
    values = []
    for f in kind.fields:
        if f.type == "id":
            continue
        index = cmap.fields.get(f.name)
        clean = "md_code" if f.type in ("uscc", "region") else "md_clean"
        if index is None:
            values.append(f"null::varchar as f_{f.name}")
        elif f.type == "respondent":
            values.append(f"respondent_pseudonym as f_{f.name}")
        else:
            values.append(f"{clean}(cell_{index}) as f_{f.name}")
    # the lookup keys are computed in a projection (``parsed``), where DuckDB computes a repeated
    # part of an expression once; the lookups are macros, not joins (see lookup_macro)
    keys = []
    for f in kind.fields:
        if f.type in _LOOKUP_KEY_SQL:
            keys.append(f"{_LOOKUP_KEY_SQL[f.type].format(x=f'f_{f.name}')} as k_{f.name}")
    codes = [f"md_lookup_{f.type}(k_{f.name}) as j_{f.name}" for f in kind.fields if f.type in _LOOKUP_KEY_SQL]
    if id_index is not None:
        codes += [
            # ric_problem's last check, the address code (area and birth year only: the number itself
            # is not in ``staged``), then a birth year after the day the file was received
            "case when id_problem_sql is not null then id_problem_sql "
            "when not ric_address_ok(id_area, birth_year_sql) then 'address' "
            f"when birth_year_sql > year({received}) then 'future' end as id_problem",
            "birth_year_sql as birth_year",
        ]

    checks = [
        *([Check("bad_encoding", "replaced", sql_literal(stray_bytes_message()))] if layout.replaced else []),
        Check(
            "malformed_row",
            "malformed",
            "case when swallowed_lines > 0 then 'a quote opened in this row is never closed, so ' || "
            "case when swallowed_lines = 1 then 'the line after it was' "
            "else 'the ' || swallowed_lines || ' lines after it were' end || ' read into this row and not "
            "loaded; close the quote (put values that contain a comma or line break in double quotes) and send "
            "the file again.' "
            f"when short then 'this row has fewer cells than the header ({layout.width} columns): a cell is "
            "missing, so the cells after it may be in the wrong columns; write an empty cell where a value is "
            f"blank.' else 'this row has more cells than the header ({layout.width} columns), or a quote opened "
            "in it is never closed; put values that contain a comma or line break in double quotes.' end",
        ),
    ]
    for f in kind.fields:
        if f.name in cmap.fields or f.required:
            checks += field_checks(f, received)
    if kind.either:
        first, second = (kind.field(n) for n in kind.either)
        checks.append(
            Check(
                "missing_field",
                " and ".join(f"f_{n} is null" for n in kind.either),
                f"'both {_label(first)} and {_label(second)} are blank; fill in at least one.'",
            )
        )
    for name, needed in kind.requires:
        if name in cmap.fields:
            checks.append(
                Check(
                    "missing_field",
                    f"f_{name} is not null and j_{needed} is null"
                    if kind.field(needed).type in _LOOKUP_KEY_SQL
                    else f"f_{name} is not null and f_{needed} is null",
                    f"'the {_label(kind.field(name))} is filled in but the {_label(kind.field(needed))} is blank; "
                    f"fill in the {_label(kind.field(needed))} or clear the {_label(kind.field(name))}.'",
                )
            )
    for part_name, whole_name in kind.parts:
        if part_name in cmap.fields and whole_name in cmap.fields:
            part, whole = kind.field(part_name), kind.field(whole_name)
            amount = {f.name: f"p_{f.name}" for f in (part, whole)}  # in yuan: see _parsed_sql
            checks.append(
                Check(
                    "part_exceeds_whole",
                    # half a fen of tolerance: 0.57万 is 5699.999999999999 in floating point, and 5700 is
                    # not more than it
                    f"{amount[part.name]} - {amount[whole.name]} > 0.005",
                    f"'the {_label(part)} ' || {_quoted(f'f_{part.name}')} || ' is more than the {_label(whole)} ' "
                    f"|| {_quoted(f'f_{whole.name}')} || ', of which it is a part; check the digits and the units.'",
                )
            )
    failed = " ".join(f"when {c.condition} then {i}" for i, c in enumerate(checks, 1))
    messages = " ".join(f"when {i} then {c.message}" for i, c in enumerate(checks, 1))

    outputs = []
    for f in kind.fields:
        for name, expr in _output_sql(f):
            outputs.append(f"case when failed is null then {expr} end as o_{name}")
    id_token = "null::varchar"
    if id_index is not None:
        id_token = "case when id_pseudonym is not null then '<id:' || id_pseudonym || '>' end"
    elif respondent_index is not None:
        id_token = "case when respondent_pseudonym is not null then '<id:' || respondent_pseudonym || '>' end"

    number = f"cast(rowid + {layout.skip + 1} as integer) as row_number, " if numbered_by_rowid else ""
    # each cell is parsed once here; the checks, the messages and the outputs refer to the parsed value
    parsed = [
        f"{_parsed_sql(f, cmap.multipliers.get(f.name, 1))} as p_{f.name}" for f in kind.fields if f.type in _PARSERS
    ] + keys
    sql = f"""
with
vals as (select {number}*, {", ".join(values)} from staged),
parsed as (select *{"".join(", " + p for p in parsed)} from vals),
chk as (
    select parsed.*{"".join(", " + c for c in codes)}
    from parsed
),
tested as (select *, case when blank then null {failed} end as failed from chk)
select
    row_number,
    blank,
    {"".join(f"cell_{i}, " for i in _kept(kind, cmap))}{id_token} as id_token,
    {", ".join(outputs)},
    failed,
    case failed {messages} end as message
from tested
"""
    return sql, [c.reason for c in checks]


def _kept(kind: Kind, cmap: ColumnMap) -> list[int]:
    """Columns whose cells are kept for the quarantine: not personal, not the ID number or the survey
    respondent (their pseudonyms stand in for them). In a file that holds personal data (a kind with ID
    numbers or respondents, or a file with a name, phone or address column) only the columns mapped to a
    field are kept: a column under a header not known here (电话号码, 联系方式, 户籍所在地 …) may hold anything."""
    ids = {_id_index(kind, cmap), _respondent_index(kind, cmap)}
    mapped = set(cmap.fields.values())
    personal = kind.personal or bool(cmap.personal)
    return [
        i for i in range(len(cmap.headers)) if i not in cmap.personal and i not in ids and (i in mapped or not personal)
    ]


def _respondent_index(kind: Kind, cmap: ColumnMap) -> int | None:
    return next((cmap.fields[f.name] for f in kind.fields if f.type == "respondent" and f.name in cmap.fields), None)


def _id_index(kind: Kind, cmap: ColumnMap) -> int | None:
    return next((cmap.fields[f.name] for f in kind.fields if f.type == "id" and f.name in cmap.fields), None)


def raw_values_sql(kind: Kind, cmap: ColumnMap) -> str:
    """The quarantine ``raw_values`` JSON: header → cell for the columns of :func:`_kept`, IDs and survey
    respondents as pseudonyms."""
    pairs = []
    ids = {_id_index(kind, cmap), _respondent_index(kind, cmap)} - {None}
    kept = set(_kept(kind, cmap))
    for index, header in enumerate(cmap.headers):
        key = sql_literal(header.strip() or f"col{index + 1}")
        if index in ids:
            pairs.append(f"{key}, coalesce(id_token, '')")
        elif index in kept:
            pairs.append(f"{key}, coalesce(md_scrub(cell_{index}), '')")
    if not pairs:
        return "'{}'"
    return f"cast(json_object({', '.join(pairs)}) as varchar)"


# --------------------------------------------------------------------------------------------------
# I/O edge: scanning, transcoding, running the queries, writing the lake
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    sha256: str
    size: int
    utf8: bool
    head: bytes
    # line breaks of more than one kind, one of them a lone CR (CRLF and CR, or LF and CR): DuckDB's
    # reader takes one kind and corrupts the cells next to the others, see transcode_to_utf8
    mixed_line_breaks: bool = False
    # byte sequences that are not UTF-8 in a file that otherwise is (a cell pasted from a GBK file, see
    # readers.Utf8Tally): the file is read as UTF-8 and the rows that hold them are quarantined
    stray_sequences: int = 0

    @property
    def encoding(self) -> str:
        """utf-8, utf-16 (Excel's "Unicode text", with its byte-order mark) or gb18030 (GBK, GB2312)."""
        if self.head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        return "utf-8" if self.utf8 or self.stray_sequences else "gb18030"


_LONE_CR = re.compile(rb"\r(?!\n|\Z)")  # a CR at the end of a block is judged with the next block


def scan_file(path: Path, progress: ProgressCallback | None = None) -> Scan:
    """One streaming pass: sha256, whether the bytes are UTF-8 (or UTF-8 with a few stray bytes), the
    first 64 KiB, and whether the line breaks are mixed (found on the bytes: a CR or LF byte is never
    part of a UTF-8 or GB18030 character).

    Mixed means a lone CR beside CRLF or LF. An LF file has no CR (one ``memchr`` a block); a CRLF
    file, as Excel writes it, is searched for a CR not followed by LF (a third of the time counting
    CR, LF and CRLF took)."""
    digest = hashlib.sha256()
    tally = Utf8Tally()
    size = path.stat().st_size
    done = 0
    head = b""
    lone_cr = crlf = lf = False
    last = b""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK_BYTES), b""):
            digest.update(block)
            if last == b"\r":  # a CR ending the block before: its LF may open this one
                crlf, lone_cr = crlf or block[:1] == b"\n", lone_cr or block[:1] != b"\n"
            if b"\r" in block:
                lone_cr = lone_cr or _LONE_CR.search(block) is not None
                crlf = crlf or b"\r\n" in block
            lf = lf or b"\n" in block
            last = block[-1:]
            if len(head) < HEAD_BYTES:
                head += block[: HEAD_BYTES - len(head)]
            tally.feed(block)
            done += len(block)
            if progress and size:
                progress("scan", done / size)
    tally.feed(b"", final=True)
    lone_cr = lone_cr or last == b"\r"  # the file ends with a CR
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    # with no CRLF anywhere, every LF is a lone LF
    mixed = lone_cr and (crlf or lf) and not utf16
    stray = tally.bad if tally.verdict == "utf-8-stray" and not utf16 else 0
    return Scan(digest.hexdigest(), size, tally.verdict == "utf-8", head, mixed, stray)


def transcode_to_utf8(
    source: Path,
    target: Path,
    encoding: str = "gb18030",
    progress: ProgressCallback | None = None,
    lf_only: bool = False,
    errors: str = "strict",
) -> None:
    """GB18030 (a superset of GBK and GB2312), UTF-16 or UTF-8 → UTF-8, block by block.

    ``errors="replace"``: bytes that do not decode are written as U+FFFD (a UTF-8 file with stray bytes,
    :attr:`Scan.stray_sequences`, whose rows holding them :func:`check_sql` quarantines).

    ``lf_only``: every line break (CRLF, CR, LF) written as LF, for a file whose line breaks are mixed
    with a lone CR (:attr:`Scan.mixed_line_breaks`): DuckDB's reader settles on one kind of line break,
    and a lone CR in a CRLF file ate the first character of the next line. Lines are the ones
    :func:`find_header` counts (CRLF, CR and LF each end one)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    size = max(source.stat().st_size, 1)
    done = 0
    carry = ""  # a CR at the end of a block: its LF may open the next one

    def lines(text: str, final: bool = False) -> str:
        nonlocal carry
        if not lf_only:
            return text
        text = carry + text
        carry = "\r" if text.endswith("\r") and not final else ""
        return text[: len(text) - len(carry)].replace("\r\n", "\n").replace("\r", "\n")

    try:
        with source.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
            for block in iter(lambda: src.read(BLOCK_BYTES), b""):
                dst.write(lines(decoder.decode(block)))
                done += len(block)
                if progress:
                    progress("transcode", done / size)
            dst.write(lines(decoder.decode(b"", final=True), final=True))
    except UnicodeDecodeError as err:
        raise MicrodataFileError(
            "bad_encoding",
            f"the text is neither UTF-8 nor GBK/GB18030 (byte {done + err.start + 1}); save the file as UTF-8 CSV.",
        ) from err


def _decode_head(scan: Scan, suffix: str = ".csv") -> str:
    """The first 64 KiB as text (a character cut at the end is dropped)."""
    if scan.encoding == "utf-16":
        return codecs.getincrementaldecoder("utf-16")("replace").decode(scan.head)
    if (message := workbook_named_as_text(scan.head[:8], suffix, workbooks_accepted=False)) is not None:
        raise MicrodataFileError("unsupported_type", message)
    if b"\x00" in scan.head:
        raise MicrodataFileError("unsupported_type", "the file contains binary data and is not a CSV text file.")
    if scan.encoding == "utf-8":  # a character cut at the end is left out
        return codecs.getincrementaldecoder("utf-8-sig")("replace").decode(scan.head)
    try:
        return codecs.getincrementaldecoder("gb18030")("strict").decode(scan.head)
    except UnicodeDecodeError as err:
        raise MicrodataFileError(
            "bad_encoding",
            f"the text is neither UTF-8 nor GBK/GB18030 (byte {err.start + 1}); save the file as UTF-8 CSV.",
        ) from err


class StepClock:
    """A progress callback that also times the steps of one file's load, and passes every call on.

    A step runs from its first report to the next step's first report (or :meth:`stop`), so the
    seconds of the steps add up to the load's: the archive link counts with ``scan``, the dropping of
    a table with the step before it. ``seconds`` holds them by step name, in the order they ran."""

    def __init__(self, progress: ProgressCallback | None = None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self._step: str | None = None
        self._since = 0.0

    def __call__(self, step: str, fraction: float) -> None:
        if step != self._step:
            self._close()
            self._step = step
        if self.progress is not None:
            self.progress(step, fraction)

    def _close(self) -> None:
        now = time.perf_counter()
        if self._step is not None:
            self.seconds[self._step] = self.seconds.get(self._step, 0.0) + now - self._since
        self._since = now

    def stop(self) -> dict[str, float]:
        """The seconds by step, the current step closed."""
        self._close()
        self._step = None
        return dict(self.seconds)


def _run(
    con: duckdb.DuckDBPyConnection, sql: str, stage: str, progress: ProgressCallback | None
) -> duckdb.DuckDBPyConnection:
    """Execute one statement; with a callback, report DuckDB's own progress every half second."""
    if progress is None:
        return con.execute(sql)
    progress(stage, 0.0)
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = con.execute(sql)
        except BaseException as err:  # re-raised in the calling thread
            outcome["error"] = err

    worker = threading.Thread(target=target, name=f"microdata-{stage}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
        if worker.is_alive():
            done = con.query_progress()
            if done >= 0:
                progress(stage, min(done / 100, 0.99))
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    progress(stage, 1.0)
    return outcome["result"]  # type: ignore[return-value]


def _copy_to(con: duckdb.DuckDBPyConnection, query: str, target: Path, stage: str, progress) -> Path:
    """COPY a query to Parquet under a temporary name beside ``target``; the caller renames it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _run(con, f"copy ({query}) to {sql_literal(str(tmp))} (format parquet, compression zstd)", stage, progress)
    return tmp


def _lake_file(paths: Paths, table: str, sha256: str) -> Path:
    folder, _schema = lake.LAKE_TABLES[table]
    return paths.lake / folder / f"{sha256}.parquet"


@dataclass
class _Counts:
    accepted: int = 0
    quarantined: int = 0
    skipped: int = 0


def ingest_microdata_file(
    path: Path,
    kind: str,
    paths: Paths,
    progress: ProgressCallback | None = None,
    *,
    consume: bool = False,
    now: datetime | None = None,
    workdir: Path | None = None,
    memory_limit: str | None = None,
    seeds_dir: Path = SEEDS_DIR,
    reprocess_as: Mapping[str, object] | None = None,
) -> FileOutcome:
    """Load one microdata CSV of ``kind`` into the lake. Never raises for a bad file (it is rejected).

    Idempotent by sha256 exactly like :func:`ingest.intake.ingest_file`: the same bytes again change
    nothing and answer ``duplicate``; the original is archived untouched under ``archive/<sha256>.<ext>``.
    ``workdir`` holds the scratch database and a transcoded copy (default: the system temp folder).
    ``reprocess_as`` (the file's earlier audit record, as in ``ingest_file``) re-reads an archived file
    with today's code, keeping its name and receipt time, and replaces what the lake held for it.
    """
    if kind not in KIND_SPECS:
        raise ValueError(f"unknown microdata kind {kind!r}; choose one of {', '.join(KINDS)}")
    memory_limit = memory_limit or os.environ.get("REFORM_MICRODATA_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    paths.ensure()
    clock = StepClock(progress)  # the outcome's ``steps``: where a large file's time went
    clock("scan", 0.0)
    scan = scan_file(path, clock)
    # the same bytes given to two workers at once (two names, one content): one loads, one is a duplicate
    rewrites = partial(lake.replaces_outputs, paths.lake, scan.sha256, received_name(path), kind, reprocess_as)
    with lake.hash_locks(paths.lake, [scan.sha256], rewrites):
        return _ingest_scanned(
            path, kind, paths, scan, clock, consume, now, workdir, memory_limit, seeds_dir, reprocess_as
        )


def _ingest_scanned(
    path: Path,
    kind: str,
    paths: Paths,
    scan: Scan,
    clock: StepClock,
    consume: bool,
    now: datetime | None,
    workdir: Path | None,
    memory_limit: str,
    seeds_dir: Path,
    reprocess_as: Mapping[str, object] | None,
) -> FileOutcome:
    """:func:`ingest_microdata_file` once the file is scanned, with its hash's lock held."""
    spec = KIND_SPECS[kind]
    prior = None if reprocess_as is not None else lake.prior_receipt(paths.lake, scan.sha256)
    name = received_name(path)
    if prior is not None and not lake.read_again(prior, name, kind):
        if consume:
            path.unlink(missing_ok=True)  # or taken by another ingest run meanwhile
        return FileOutcome(
            name,
            scan.sha256,
            "duplicate",
            error=f"already ingested as {prior['file_name']} on {prior['received_at']:%Y-%m-%d %H:%M}",
            source=kind,
            steps=clock.stop(),
        )
    received_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    file_name = name
    if reprocess_as is not None:
        received_at = reprocess_as["received_at"]  # type: ignore[assignment]
        file_name = recorded_name(str(reprocess_as["file_name"]))
    if reprocess_as is not None or prior is not None:  # a rejection read again is replaced, as a reprocess is
        lake.remove_file_outputs(paths.lake, scan.sha256)
    suffix = path.suffix.lower() if path.suffix.lower() in ACCEPTED_SUFFIXES else ".bin"
    archive_path = archive(path, scan.sha256, suffix, paths, move=consume)

    counts = _Counts()
    error_reason = error = None
    started = time.perf_counter()
    try:
        counts = _load(path, file_name, spec, scan, paths, received_at, clock, workdir, memory_limit, seeds_dir)
    except MicrodataFileError as err:
        error_reason, error = err.reason, str(err)
    except (duckdb.InvalidInputException, duckdb.ConversionException) as err:
        # a file DuckDB's reader refuses; its message may quote a line (names, ID numbers): log the type only
        log.warning("microdata %s: DuckDB could not read %s (%s)", kind, file_name, type(err).__name__)
        error_reason, error = (
            "corrupt_file",
            "the CSV could not be read (a line longer than 2 MB or broken quoting); "
            "save it again as CSV from Excel/WPS and send it again.",
        )
    status = "loaded_with_quarantine" if counts.quarantined else "loaded"
    if error_reason:
        status = "rejected"
    elif not counts.accepted and counts.quarantined:
        status = "rejected"
        error_reason, error = "all_rows_quarantined", "every row of the file was refused; see audit.quarantine."
    received = counts.accepted + counts.quarantined
    record = {
        "file_sha256": scan.sha256,
        "file_name": file_name,
        "source": kind,
        "file_format": file_format(file_name),
        "size_bytes": scan.size,
        "reporting_unit_code": None,
        "period_id": None,
        "received_at": received_at,
        "status": status,
        "rows_received": received,
        "rows_accepted": counts.accepted,
        "rows_quarantined": counts.quarantined,
        "rows_skipped": counts.skipped,
        "error_reason": error_reason,
        "error": error,
        "archive_path": str(archive_path.relative_to(paths.home))
        if archive_path.is_relative_to(paths.home)
        else str(archive_path),
    }
    # rows and quarantine are already in place (written by DuckDB); this writes the commit marker last
    lake.write_file_outputs(paths.lake, scan.sha256, kind, [], [], record)
    drop_superseded_archive(paths, prior, record)
    if consume:
        path.unlink(missing_ok=True)  # or taken by another ingest run meanwhile
    elapsed = time.perf_counter() - started
    steps = clock.stop()
    log.info(
        "microdata %s %s: %d rows in %.1fs (%s)",
        kind,
        file_name,
        received,
        elapsed,
        step_seconds(steps),
    )
    return FileOutcome(
        file_name,
        scan.sha256,
        status,
        rows_received=received,
        rows_accepted=counts.accepted,
        rows_quarantined=counts.quarantined,
        rows_skipped=counts.skipped,
        error_reason=error_reason,
        error=error,
        lake_name=scan.sha256,
        source=kind,
        steps=steps,
    )


def _load(
    path: Path,
    file_name: str,
    spec: Kind,
    scan: Scan,
    paths: Paths,
    received_at: datetime,
    progress: ProgressCallback | None,
    workdir: Path | None,
    memory_limit: str,
    seeds_dir: Path,
) -> _Counts:
    if scan.size == 0:
        raise MicrodataFileError("empty_file", "the file is empty (0 bytes); send the file again.")
    given = Path(file_name).suffix  # as received: ``path`` may be the archived copy (a reprocess)
    if given.lower() not in ACCEPTED_SUFFIXES:
        raise MicrodataFileError(
            "unsupported_type",
            f"microdata files of type “{given or '(none)'}” are not accepted; save the sheet as CSV "
            "(UTF-8 or GBK) and send that.",
        )
    head = _decode_head(scan, given.lower())
    header_line, delimiter, cmap = find_header(head, spec)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reform-microdata-", dir=workdir) as scratch_dir:
        scratch = Path(scratch_dir)
        text_path = path
        if scan.encoding != "utf-8" or scan.mixed_line_breaks or scan.stray_sequences:  # one pass does all
            text_path = scratch / "utf8.csv"
            transcode_to_utf8(
                path,
                text_path,
                scan.encoding,
                progress,
                lf_only=scan.mixed_line_breaks,
                errors="replace" if scan.stray_sequences else "strict",
            )
        layout = Layout(text_path, delimiter, header_line + 1, len(cmap.headers), bool(scan.stray_sequences))
        con = scratch_connection(scratch / "scratch.duckdb", memory_limit, scratch / "spill")
        try:
            if progress is not None:  # DuckDB's progress, polled by _run; never printed
                con.execute("set enable_progress_bar = true; set enable_progress_bar_print = false")
            return _run_queries(con, spec, cmap, layout, scan, file_name, paths, received_at, progress, seeds_dir)
        finally:
            con.close()


def scratch_connection(database: Path | str, memory_limit: str, spill: Path) -> duckdb.DuckDBPyConnection:
    """The connection a file is read and checked in: temporary tables in memory up to ``memory_limit``,
    spilled to ``spill`` beyond it, rows inserted in the order they are read where the plan allows."""
    return duckdb.connect(
        str(database),
        config={
            "memory_limit": memory_limit,
            "temp_directory": str(spill),
            "preserve_insertion_order": True,
            # DuckDB rewrites an IN list of six or more constants (md_bool, NO_TITLE) into a join
            # against the list, which costs the check statement its file order (and is slower than
            # comparing each value in place)
            "disabled_optimizers": "in_clause",
        },
    )


# the only operators a statement may have for DuckDB to insert its rows in the order it reads them: a
# join (even a left join on a unique key) or a subquery lets a parallel read's rows arrive out of order
_ORDER_KEEPING_OPERATORS = frozenset({"READ_CSV", "SEQ_SCAN", "TABLE_SCAN", "PROJECTION", "FILTER"})


def _keeps_file_order(con: duckdb.DuckDBPyConnection, query: str) -> bool:
    """Whether ``query``'s plan is one chain of scan, projections and filters (see _ORDER_KEEPING_OPERATORS)."""
    [(_kind, plan)] = con.execute(f"explain (format json) {query}").fetchall()
    nodes = json.loads(plan)
    while len(nodes) == 1 and nodes[0]["name"] in _ORDER_KEEPING_OPERATORS:
        nodes = nodes[0]["children"]
    return not nodes


def _read(
    con: duckdb.DuckDBPyConnection, spec: Kind, cmap: ColumnMap, layout: Layout, progress: ProgressCallback | None
) -> bool:
    """Create ``staged`` from the file. Returns True when its rows are numbered by ``rowid`` (parallel read).

    With ``preserve_insertion_order`` DuckDB inserts the rows of a parallel read in file order as long
    as the statement only scans, computes and filters (:func:`_keeps_file_order`); that is why the
    address code of an ID number, which needs a join, is checked afterwards by :func:`check_sql`.
    A statement that does not keep the order is read on one thread, numbered by
    ``row_number() over ()`` as it is read. DuckDB's parallel reader also refuses some files that
    its serial reader reads (with ``null_padding`` it refuses a quoted line break, and a file it cannot
    split safely): those are read again on one thread.
    """
    parallel = stage_sql(spec, cmap, layout, parallel=True)
    if _keeps_file_order(con, parallel):
        try:
            _run(con, f"create temp table staged as {parallel}", "read", progress)
            return True
        except duckdb.InterruptException:
            raise
        except duckdb.Error as err:
            # the message may quote a line (names, ID numbers): log the type only
            log.info("microdata %s: parallel read refused (%s); reading on one thread", spec.name, type(err).__name__)
            con.execute("drop table if exists staged")
    _run(con, f"create temp table staged as {stage_sql(spec, cmap, layout)}", "read", progress)
    return False


def _run_queries(
    con: duckdb.DuckDBPyConnection,
    spec: Kind,
    cmap: ColumnMap,
    layout: Layout,
    scan: Scan,
    file_name: str,
    paths: Paths,
    received_at: datetime,
    progress: ProgressCallback | None,
    seeds_dir: Path,
) -> _Counts:
    install_sql(con, None, seeds_dir)
    # temporary tables live in memory up to the memory limit and spill to the scratch folder beyond it
    numbered_by_rowid = _read(con, spec, cmap, layout, progress)
    query, reasons = check_sql(spec, cmap, layout, received_at.date().isoformat(), numbered_by_rowid)
    # rows read in parallel stay in file order through a statement of scans, projections and filters;
    # any other checked table is sorted by row number when it is written
    order = "" if numbered_by_rowid and _keeps_file_order(con, query) else " order by row_number"
    _run(con, f"create temp table checked as {query}", "check", progress)
    con.execute("drop table staged")

    # the first valid row of a key wins; later valid rows with the same key are duplicates (few: a
    # small table, joined back to the checked rows when they are written)
    key = [f"o_{k}" for k in spec.key]
    on = " and ".join(f"c.{k} is not distinct from f.{k}" for k in key)
    _run(
        con,
        f"""
        create temp table duplicates as
        with firsts as (
            select {", ".join(key)}, min(row_number) as first_row
            from checked where failed is null and not blank
            group by all having count(*) > 1
        )
        select c.row_number as duplicate_row, f.first_row
        from checked c join firsts f on {on}
        where c.failed is null and not c.blank and c.row_number > f.first_row
        """,
        "dedupe",
        progress,
    )
    # a duplicate is marked in place: an update keeps the table's rows where they are, so the writes
    # below read them in file order (a join with ``duplicates`` would not)
    con.execute(
        f"""
        update checked set
            failed = {len(reasons) + 1},
            message = 'the same {spec.key_label} is already in row ' || d.first_row || '; keep one row for it.'
        from duplicates d where checked.row_number = d.duplicate_row
        """
    )
    accepted, quarantined, skipped = con.execute(
        "select count(*) filter (where not blank and failed is null), "
        "count(*) filter (where not blank and failed is not null), count(*) filter (where blank) from checked"
    ).fetchone()
    if accepted + quarantined == 0:
        raise MicrodataFileError("no_data", "the file holds a header row but no data rows.")

    common = (
        f"{sql_literal(scan.sha256)} as file_sha256, {sql_literal(file_name)} as file_name, "
        f"{sql_literal(SHEET)} as sheet, row_number"
    )
    stamp = f"timestamp {sql_literal(received_at.isoformat(sep=' '))}"
    outputs = ", ".join(f"o_{c} as {c}" for c in output_columns(spec.name))
    reason_list = "[" + ", ".join(sql_literal(r) for r in [*reasons, "duplicate_row"]) + "]"
    raw_values = raw_values_sql(spec, cmap)
    if spec.personal or cmap.personal:  # a misaligned row may carry a name in any column: keep no cells
        raw_values = (
            f"case when {reason_list}[failed] = 'malformed_row' "
            f'then \'{{"note": "cells withheld: the row is misaligned and may hold personal data"}}\' '
            f"else {raw_values} end"
        )
    written: list[tuple[Path, Path]] = []
    try:
        if accepted:
            target = _lake_file(paths, f"raw.{spec.name}", scan.sha256)
            tmp = _copy_to(
                con,
                f"select {common}, {outputs}, {stamp} as received_at from checked "
                f"where not blank and failed is null{order}",
                target,
                "write",
                progress,
            )
            written.append((tmp, target))
        if quarantined:
            target = _lake_file(paths, "raw.quarantine", scan.sha256)
            tmp = _copy_to(
                con,
                f"select {common}, {raw_values} as raw_values, {reason_list}[failed] as reason_code, "
                f"md_scrub(message) as message, {stamp} as quarantined_at from checked "
                f"where not blank and failed is not null{order}",
                target,
                "write",
                progress,
            )
            written.append((tmp, target))
        for tmp, target in written:
            os.replace(tmp, target)
    finally:
        for tmp, _target in written:
            if tmp.exists():
                tmp.unlink()
    return _Counts(accepted, quarantined, skipped)


def iter_microdata_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(file, kind) for every microdata file under ``root``, in a stable order."""
    for child in sorted(root.rglob("*")):
        if child.is_file() and not child.name.startswith((".", "~$")):
            kind = detect_kind(child)
            if kind:
                yield child, kind
