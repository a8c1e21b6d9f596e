"""Statistical microdata: every row accepted or quarantined with a reason, IDs only as pseudonyms, bounded memory."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
import tracemalloc
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from ingest import lake, microdata
from ingest.config import Paths
from ingest.generate_microdata import generate_microdata, write_workers
from ingest.intake import FileOutcome, make_pseudonymiser, pseudonym_key, steps_by_source
from ingest.microdata import (
    KINDS,
    USCC_ALPHABET,
    detect_kind,
    ingest_microdata_file,
    install_sql,
    iter_microdata_files,
    ric_address_codes,
)
from ingest.report import QUARANTINE_REASONS
from ingest.submissions import QuarantineRecord, scrub_personal_data

NOW = datetime(2025, 6, 30, 8, 0)
REASONS = {
    "malformed_row",
    "missing_field",
    "bad_id_number",
    "bad_credit_code",
    "unknown_industry",
    "unknown_region",
    "unknown_ownership",
    "unknown_grade",
    "unknown_group",
    "bad_flag",
    "not_a_number",
    "negative_value",
    "bad_date",
    "bad_period",
    "period_out_of_calendar",
    "bad_weight",
    "out_of_range",
    "bad_occupation_code",
    "bad_year",
    "unknown_title",
    "part_exceeds_whole",
    "duplicate_row",
}


def rid(area: str, birth: str, seq: str) -> str:
    """A resident ID number with its GB 11643 check digit."""
    body = f"{area}{birth}{seq}"
    return body + ric.calc_check_digit(body + "0")


def cc(body: str) -> str:
    """A unified social credit code with its GB 32100 check character."""
    return body + uscc.calc_check_digit(body)


def pseudo(id_number: str) -> str:
    return make_pseudonymiser(pseudonym_key())(id_number)


A = rid("110105", "19900307", "001")  # male, born 1990
B = rid("532126", "19850512", "002")  # female, born 1985
C = next(n for n in (rid("110108", "19780101", f"{s:03d}") for s in range(100)) if n.endswith("X"))
D = rid("530102", "19950101", "013")
BAD_CHECK = A[:-1] + ("1" if A[-1] != "1" else "2")
BAD_LENGTH = A[:-1]
BAD_BIRTH = rid("110105", "19900230", "003")  # 30 February
BAD_AREA = rid("530702", "19900101", "004")  # 古城区 exists only from 2002
FUTURE = rid("110105", "20300101", "005")
E = [cc(f"9153070{i}MA6K1234{i}") for i in range(10)]
BAD_CREDIT = E[1][:-1] + ("0" if E[1][-1] != "0" else "1")
NAMES = ["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九", "吴十", "欧阳", "郑十一", "冯十二"]


@pytest.fixture
def paths(reform_home) -> Paths:
    return Paths.from_env().ensure()


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def fields(schema) -> list[tuple[str, object]]:
    return [(field.name, field.type) for field in schema]


def lake_rows(paths: Paths, folder: str) -> list[dict]:
    files = sorted((paths.lake / folder).glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def ingest_text(paths: Paths, tmp_path: Path, name: str, kind: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return ingest_microdata_file(path, kind, paths, now=NOW)


# --------------------------------------------------------------------------------------------------
# The fixture corpus: one file per kind, every variation and every bad-row reason
# --------------------------------------------------------------------------------------------------

# fmt: off
ENTERPRISES = "企业名录(2025年)\r\n" + csv_text(
    [
        [
            "统一社会信用代码",
            "单位名称",
            "法定代表人",
            "行业代码",
            "行政区划代码",
            "登记注册类型",
            "职工人数",
            "是否建立工会",
            "是否签订集体合同",
            "联系电话",
            "统计年度",
            "职工工资总额(元)",
            "职工教育经费提取额(万元)",  # a unit in the header: the cells are 万元
            "一线职工教育培训经费支出(元)",
        ],
        [E[0], "丽江古城机械有限公司", "张三", "33", "530702", "私营企业", "1,234", "是", "否", "13800000000",
         "2025", "1,234,000", "3.7", "30,000元"],
        [E[2].lower()[:9] + "-" + E[2].lower()[9:], "玉龙建材厂", "李四", "C3311", "２３０１００", "170", "８５", "Y",
         "1", "", "2025年度", "85万", "", ""],
        [BAD_CREDIT, "错码公司", "王五", "33", "530702", "私营企业", "10", "是", "是", "", "", "", "", ""],
        [E[3], "未知行业公司", "赵六", "99", "530702", "私营企业", "10", "", "", "", "", "", "", ""],
        [E[4], "旧区划公司", "钱七", "33", "533221", "私营企业", "10", "", "", "", "", "", "", ""],
        [E[5], "合伙公司", "孙八", "33", "530702", "合伙企业", "10", "", "", "", "", "", "", ""],
        [E[6], "负数公司", "周九", "33", "530702", "私营企业", "-5", "", "", "", "", "", "", ""],
        [E[7], "文字公司", "吴十", "33", "530702", "私营企业", "十二", "", "", "", "", "", "", ""],
        [E[8], "小数公司", "欧阳", "33", "530702", "私营企业", "12.5", "", "", "", "", "", "", ""],
        [E[9], "标志公司", "郑十一", "33", "530702", "私营企业", "3", "maybe", "", "", "", "", "", ""],
        [E[0], "丽江古城机械有限公司", "张三", "33", "530702", "私营企业", "1,234", "是", "否", "",
         "2025", "1,234,000", "3.7", "30,000元"],
        ["", "", "", "", "", "", "", "", "", "", "", "", "", ""],
        ["", "无代码公司", "冯十二", "33", "530702", "私营企业", "3", "", "", "", "", "", "", ""],
        [E[1], "多列公司", "张三", "33", "530702", "私营企业", "3", "是", "否", "", "", "", "", "", "多", "余"],
        [E[1], "年度公司", "张三", "33", "530702", "私营企业", "30", "", "", "", "2015", "", "", ""],
        [E[1], "年度公司", "张三", "33", "530702", "私营企业", "30", "", "", "", "二〇二五", "", "", ""],
        [E[1], "经费公司", "张三", "33", "530702", "私营企业", "30", "", "", "", "2025", "", "1", "12,000"],
        [E[1], "经费公司", "张三", "33", "530702", "私营企业", "30", "", "", "", "2025", "50000", "6", ""],
        [E[1], "经费公司", "张三", "33", "530702", "私营企业", "30", "", "", "", "2025", "", "-1", ""],
        [E[1], "经费公司", "张三", "33", "530702", "私营企业", "30", "", "", "", "2025", "", "约一万", ""],
        [E[1], "经费公司", "张三", "33", "530702", "私营企业", "30", "", "", "", "2024", "", "0.5", "5000"],
        [E[1], "经费公司", "张三", "33", "530702", "私营企业", "32", "", "", "", "2025", "", "0.57", "5700"],
    ]
)
ENTERPRISE_ROWS = [
    {"row_number": 3, "credit_code": E[0], "enterprise_name": "丽江古城机械有限公司", "industry_code": "33",
     "region_code": "530702", "ownership_code": "private", "headcount": 1234, "has_union": True,
     "has_collective_contract": False, "reference_year": 2025, "payroll_yuan": 1234000.0,
     "education_fund_yuan": 37000.0, "frontline_education_yuan": 30000.0},
    {"row_number": 4, "credit_code": E[2], "enterprise_name": "玉龙建材厂", "industry_code": "33",
     "region_code": "230100", "ownership_code": "private", "headcount": 85, "has_union": True,
     "has_collective_contract": True, "reference_year": 2025, "payroll_yuan": 850000.0,
     "education_fund_yuan": None, "frontline_education_yuan": None},
    # the same enterprise in two reference years is two rows, not a duplicate
    {"row_number": 23, "credit_code": E[1], "reference_year": 2024, "payroll_yuan": None,
     "education_fund_yuan": 5000.0, "frontline_education_yuan": 5000.0},
    # 0.57万 is 5699.999999999999 in floating point, rounded to 5700: the frontline 5700 is not above it
    {"row_number": 24, "credit_code": E[1], "headcount": 32, "reference_year": 2025,
     "education_fund_yuan": 5700.0, "frontline_education_yuan": 5700.0},
]
# fmt: on
ENTERPRISE_REASONS = {
    5: "bad_credit_code",
    6: "unknown_industry",
    7: "unknown_region",
    8: "unknown_ownership",
    9: "negative_value",
    10: "not_a_number",
    11: "not_a_number",
    12: "bad_flag",
    13: "duplicate_row",
    15: "missing_field",
    16: "malformed_row",
    17: "bad_year",
    18: "bad_year",
    19: "part_exceeds_whole",
    20: "part_exceeds_whole",
    21: "negative_value",
    22: "not_a_number",
}

# fmt: off
WORKERS = csv_text(
    [
        [
            "姓名",
            "公民身份号码",
            "性别",
            "用人单位统一社会信用代码",
            "行政区划代码",
            "行业代码",
            "技能等级",
            "人员类别",
            "是否一线职工",
            "备注",
            "统计年度",
            "工匠称号",
            "获评年份",
        ],
        ["张三", A, "男", E[0], "530702", "33", "高级工", "农民工", "是", "", "2025", "大国工匠", "2019"],
        ["李四", B, "女", "", "530721", "", "三级", "技术工人", "", f"身份证{A}", "2025年", "省级", ""],
        ["王五", C.lower(), "男", E[2], "230100", "C33", "technician", "migrant_workers", "false", "", "", "无", ""],
        ["赵六", BAD_CHECK, "男", E[0], "530702", "33", "", "", "", "", "", "", ""],
        ["钱七", BAD_LENGTH, "男", E[0], "530702", "33", "", "", "", "", "", "", ""],
        ["孙八", BAD_BIRTH, "男", E[0], "530702", "33", "", "", "", "", "", "", ""],
        ["周九", BAD_AREA, "男", E[0], "530702", "33", "", "", "", "", "", "", ""],
        ["吴十", FUTURE, "男", E[0], "530702", "33", "", "", "", "", "", "", ""],
        ["郑十一", "", "男", E[0], "530702", "33", "", "", "", "", "", "", ""],
        ["张三", A, "男", E[3], "530702", "33", "中级工", "", "1", "", "2025", "", ""],
        ["张三", A, "男", E[0], "530702", "33", "高级工", "农民工", "是", "", "2025", "大国工匠", "2019"],
        ["冯十二", D, "女", BAD_CREDIT, "530702", "33", "", "", "", "", "", "", ""],
        ["冯十二", D, "女", E[4], "999999", "33", "", "", "", "", "", "", ""],
        ["冯十二", D, "女", E[5], "530702", "33", "九级工", "", "", "", "", "", ""],
        ["冯十二", D, "女", E[6], "530702", "33", "", "外星人", "", "", "", "", ""],
        ["冯十二", D, "女", E[7], "530702", "A33", "", "", "", "", "", "", ""],
        ["冯十二", D, "女", E[8], "530702", "33", "", "", "maybe", "", "", "", ""],
        ["欧阳", "修", A, E[0], "530702", "33", "", "", "", "", "", "", "", ""],
        ["冯十二", D, "女", E[9], "530702", "33", "", "", "", "", "2040", "", ""],
        ["冯十二", D, "女", E[9], "530702", "33", "", "", "", "", "2025", "县级工匠", "2024"],
        ["冯十二", D, "女", E[9], "530702", "33", "", "", "", "", "2025", "市级工匠", "2026"],
        ["冯十二", D, "女", E[9], "530702", "33", "", "", "", "", "2025", "市级工匠", "去年"],
        ["冯十二", D, "女", E[9], "530702", "33", "", "", "", "", "2025", "", "2020"],
        ["冯十二", D, "女", E[9], "530702", "33", "", "", "", "", "2024", "丽江工匠", "2023"],
        ["冯十二", D, "女", E[9], "530702", "33", "", "", "", "", "2025", "市级工匠", "2023年"],
    ]
)
WORKER_ROWS = [
    {"row_number": 2, "worker_pseudonym": pseudo(A), "sex": "male", "birth_year": 1990, "employer_credit_code": E[0],
     "region_code": "530702", "industry_code": "33", "skill_grade_code": "senior",
     "worker_group_code": "migrant_workers", "is_frontline": True, "reference_year": 2025,
     "craftsman_level": "great_craftsman", "craftsman_year": 2019},
    {"row_number": 3, "worker_pseudonym": pseudo(B), "sex": "female", "birth_year": 1985,
     "employer_credit_code": None, "region_code": "530721", "industry_code": None, "skill_grade_code": "senior",
     "worker_group_code": "technical_workers", "is_frontline": None, "reference_year": 2025,
     "craftsman_level": "provincial_craftsman", "craftsman_year": None},
    {"row_number": 4, "worker_pseudonym": pseudo(C), "sex": "male" if int(C[16]) % 2 else "female",
     "birth_year": 1978, "employer_credit_code": E[2], "region_code": "230100", "industry_code": "33",
     "skill_grade_code": "technician", "worker_group_code": "migrant_workers", "is_frontline": False,
     "reference_year": None, "craftsman_level": None, "craftsman_year": None},
    {"row_number": 11, "worker_pseudonym": pseudo(A), "sex": "male", "birth_year": 1990,
     "employer_credit_code": E[3], "region_code": "530702", "industry_code": "33",
     "skill_grade_code": "intermediate", "worker_group_code": None, "is_frontline": True, "reference_year": 2025,
     "craftsman_level": None, "craftsman_year": None},
    # the same worker and employer in two reference years is two rows, not a duplicate; 丽江工匠 is a 市级工匠
    {"row_number": 25, "worker_pseudonym": pseudo(D), "employer_credit_code": E[9], "reference_year": 2024,
     "craftsman_level": "city_craftsman", "craftsman_year": 2023},
    {"row_number": 26, "worker_pseudonym": pseudo(D), "employer_credit_code": E[9], "reference_year": 2025,
     "craftsman_level": "city_craftsman", "craftsman_year": 2023},
]
# fmt: on
WORKER_REASONS = {
    5: "bad_id_number",
    6: "bad_id_number",
    7: "bad_id_number",
    8: "bad_id_number",
    9: "bad_id_number",
    10: "missing_field",
    12: "duplicate_row",
    13: "bad_credit_code",
    14: "unknown_region",
    15: "unknown_grade",
    16: "unknown_group",
    17: "unknown_industry",
    18: "bad_flag",
    19: "malformed_row",
    20: "bad_year",
    21: "unknown_title",
    22: "bad_year",
    23: "bad_year",
    24: "missing_field",
}

TRAININGS = csv_text(
    [
        ["学员姓名", "身份证号", "培训项目", "培训学时", "开始日期", "培训机构"],
        ["张三", A, "数控车床操作", "40", "2024-03-01", "丽江市技工学校"],
        ["李四", B, "焊接工艺", "１６", "2024/3/5", ""],
        ["王五", C, "低压电工", "8.5", "2024年3月9日", f"联系人{B}"],
        ["张三", A, "数控车床操作", "40", "20240301", "丽江市技工学校"],
        ["李四", B, "焊接工艺", "-8", "2024-01-01", ""],
        ["李四", B, "焊接工艺", "abc", "2024-01-02", ""],
        ["李四", B, "焊接工艺", "8", "2024-02-30", ""],
        ["李四", B, "焊接工艺", "8", "2099-01-01", ""],
        ["李四", B, "", "8", "2024-01-03", ""],
        ["赵六", BAD_CHECK, "焊接工艺", "8", "2024-01-04", ""],
    ],
    delimiter="\t",
)
TRAINING_ROWS = [
    {"row_number": 2, "worker_pseudonym": pseudo(A), "sex": "male", "birth_year": 1990,
     "course_name": "数控车床操作", "hours": 40.0, "start_date": date(2024, 3, 1), "provider_name": "丽江市技工学校"},
    {"row_number": 3, "worker_pseudonym": pseudo(B), "sex": "female", "birth_year": 1985, "course_name": "焊接工艺",
     "hours": 16.0, "start_date": date(2024, 3, 5), "provider_name": None},
    {"row_number": 4, "worker_pseudonym": pseudo(C), "course_name": "低压电工", "hours": 8.5,
     "start_date": date(2024, 3, 9), "provider_name": f"联系人<id:{pseudo(B)}>"},
]  # fmt: skip
TRAINING_REASONS = {
    5: "duplicate_row",
    6: "negative_value",
    7: "not_a_number",
    8: "bad_date",
    9: "bad_date",
    10: "missing_field",
    11: "bad_id_number",
}

CERTIFICATIONS = "技能等级认定证书核发名册\r\n" + csv_text(
    [
        ["姓名", "公民身份号码", "职业编码", "职业名称", "技能等级", "发证日期", "发证机构"],
        ["张三", A, "6-18-01-01", "车工", "高级工", "2023-06-01", "丽江市人社局"],
        ["李四", B, "", "焊工", "五级/初级工", "2022.5.20", ""],
        ["王五", C, "6-31-01-03", "", "技师", "2021-01-15", "云南省职业技能鉴定中心"],
        ["张三", A, "", "", "技师", "2023-06-02", ""],
        ["张三", A, "6-18-1-1", "车工", "技师", "2023-06-03", ""],
        ["张三", A, "6-18-01-01", "车工", "大师", "2023-06-04", ""],
        ["张三", A, "6-18-01-01", "车工", "", "2023-06-05", ""],
        ["张三", A, "6-18-01-01", "车工", "技师", "明年", ""],
        ["张三", A, "6-18-01-01", "车工", "高级工", "2023/6/1", "丽江市人社局"],
    ]
)
CERTIFICATION_ROWS = [
    {"row_number": 3, "worker_pseudonym": pseudo(A), "skill_grade_code": "senior", "occupation_code": "6-18-01-01",
     "occupation_name": "车工", "certified_on": date(2023, 6, 1), "issuing_body": "丽江市人社局"},
    {"row_number": 4, "worker_pseudonym": pseudo(B), "skill_grade_code": "junior", "occupation_code": None,
     "occupation_name": "焊工", "certified_on": date(2022, 5, 20), "issuing_body": None},
    {"row_number": 5, "worker_pseudonym": pseudo(C), "skill_grade_code": "technician",
     "occupation_code": "6-31-01-03", "occupation_name": None, "certified_on": date(2021, 1, 15),
     "issuing_body": "云南省职业技能鉴定中心"},
]  # fmt: skip
CERTIFICATION_REASONS = {
    6: "missing_field",
    7: "bad_occupation_code",
    8: "unknown_grade",
    9: "missing_field",
    10: "bad_date",
    11: "duplicate_row",
}

WAGES = csv_text(
    [
        ["职业编码", "职业名称", "技能等级", "行政区划代码", "年份", "月平均工资(元)", "人数"],
        ["6-18-01-01", "车工", "高级工", "530700", "2024", "6,500", "12"],
        ["6-18-01-01", "车工", "技师", "530700", "2024年", "0.78万", "5"],
        ["", "焊工", "中级工", "530700", "2024", "5200元", "30"],
        ["6-18-01-01", "车工", "初级工", "530700", "2015", "4000", "3"],
        ["6-18-01-01", "车工", "初级工", "530700", "二〇二四", "4000", "3"],
        ["6-18-01-01", "车工", "中级工", "530700", "2024", "-100", "3"],
        ["6-18-01-01", "车工", "学徒工", "530700", "2024", "3000", "3.5"],
        ["6-18-01-01", "车工", "学徒工", "530799", "2024", "3000", "3"],
        ["6-18-01-01", "车工", "高级工", "530700", "2024", "6500", "12"],
    ]
)
WAGE_ROWS = [
    {"row_number": 2, "occupation_code": "6-18-01-01", "occupation_name": "车工", "skill_grade_code": "senior",
     "region_code": "530700", "year": 2024, "monthly_wage_yuan": 6500.0, "headcount": 12},
    {"row_number": 3, "occupation_code": "6-18-01-01", "skill_grade_code": "technician", "year": 2024,
     "monthly_wage_yuan": 7800.0, "headcount": 5},
    {"row_number": 4, "occupation_code": None, "occupation_name": "焊工", "skill_grade_code": "intermediate",
     "monthly_wage_yuan": 5200.0, "headcount": 30},
]  # fmt: skip
WAGE_REASONS = {
    5: "period_out_of_calendar",
    6: "bad_period",
    7: "negative_value",
    8: "not_a_number",
    9: "unknown_region",
    10: "duplicate_row",
}

SURVEY = csv_text(
    [
        [
            "respondent_id",
            "survey_year",
            "region_code",
            "worker_group",
            "design_weight",
            "monthly_income",
            "received_training",
            "satisfaction",
            "has_written_contract",
            "受访者姓名",
        ],
        ["Q-001", "2025", "530702", "migrant_workers", "125.5", "4500", "yes", "4", "no", "张三"],
        [A, "2025", "530721", "技术工人", "80", "", "否", "非常满意", "是", "李四"],
        ["Q-003", "2025", "530702", "", "0", "4500", "", "", "", "王五"],
        ["Q-004", "2025", "530702", "", "-2", "4500", "", "", "", "赵六"],
        ["Q-005", "2025", "530702", "", "10", "4500", "", "7", "", "钱七"],
        ["Q-006", "2025", "530702", "", "10", "-1", "", "", "", "孙八"],
        ["Q-007", "2025", "530702", "", "10", "", "maybe", "", "", "周九"],
        ["Q-001", "2025", "530702", "", "10", "", "", "", "", "吴十"],
        ["Q-009", "2025", "000000", "", "10", "", "", "", "", "欧阳"],
        ["Q-010", "2025", "530702", "", "", "", "", "", "", "郑十一"],
    ]
)
SURVEY_ROWS = [
    # whatever the respondent column holds is stored as the pseudonym of its compact form
    {"row_number": 2, "respondent_id": pseudo("Q001"), "respondent_id_is_pseudonym": True, "survey_year": 2025,
     "region_code": "530702", "worker_group_code": "migrant_workers", "design_weight": 125.5,
     "monthly_income_yuan": 4500.0, "received_training": True, "satisfaction": 4, "has_written_contract": False},
    {"row_number": 3, "respondent_id": pseudo(A), "respondent_id_is_pseudonym": True, "region_code": "530721",
     "worker_group_code": "technical_workers", "design_weight": 80.0, "monthly_income_yuan": None,
     "received_training": False, "satisfaction": 5, "has_written_contract": True},
]  # fmt: skip
SURVEY_REASONS = {
    4: "bad_weight",
    5: "bad_weight",
    6: "out_of_range",
    7: "negative_value",
    8: "bad_flag",
    9: "duplicate_row",
    10: "unknown_region",
    11: "missing_field",
}

CORPUS = [
    ("enterprises", "enterprises_2025.csv", ENTERPRISES, "utf-8-sig", ENTERPRISE_ROWS, ENTERPRISE_REASONS),
    ("workers", "workers_2025.csv", WORKERS, "gb18030", WORKER_ROWS, WORKER_REASONS),
    ("trainings", "trainings_2025.tsv", TRAININGS, "utf-8", TRAINING_ROWS, TRAINING_REASONS),
    ("certifications", "certs.csv", CERTIFICATIONS, "gb18030", CERTIFICATION_ROWS, CERTIFICATION_REASONS),
    ("wages", "wages_2024.csv", WAGES, "utf-8-sig", WAGE_ROWS, WAGE_REASONS),
    ("survey_responses", "survey.csv", SURVEY, "utf-8", SURVEY_ROWS, SURVEY_REASONS),
]


@pytest.mark.parametrize(
    ("kind", "name", "text", "encoding", "expected", "reasons"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_fixture_corpus_gives_the_canonical_rows_and_a_reason_for_every_refused_row(
    paths, tmp_path, kind, name, text, encoding, expected, reasons
):
    outcome = ingest_text(paths, tmp_path, name, kind, text, encoding)
    assert outcome.status == "loaded_with_quarantine", outcome.error
    rows = lake_rows(paths, f"raw/{kind}")
    assert [r["row_number"] for r in rows] == [e["row_number"] for e in expected]
    for row, wanted in zip(rows, expected, strict=True):
        assert {k: row[k] for k in wanted} == wanted
        assert (row["file_sha256"], row["file_name"], row["sheet"]) == (outcome.sha256, name, "csv")
        assert row["received_at"] == NOW
    quarantine = lake_rows(paths, "audit/quarantine")
    assert {q["row_number"]: q["reason_code"] for q in quarantine} == reasons
    for q in quarantine:
        assert q["message"] and q["message"].endswith(".")  # a sentence for the clerk
        json.loads(q["raw_values"])
        QuarantineRecord(q["sheet"], q["row_number"], q["raw_values"], q["reason_code"], q["message"])
    assert outcome.rows_received == outcome.rows_accepted + outcome.rows_quarantined == len(expected) + len(reasons)
    # the schemas are the lake's
    [raw_file] = (paths.lake / "raw" / kind).glob("*.parquet")
    assert fields(pq.read_schema(raw_file)) == fields(lake.RAW_SCHEMAS[kind])
    [quarantine_file] = (paths.lake / "audit" / "quarantine").glob("*.parquet")
    assert fields(pq.read_schema(quarantine_file)) == fields(lake.QUARANTINE_SCHEMA)
    [marker] = lake_rows(paths, "audit/ingest_files")
    assert (marker["source"], marker["status"], marker["rows_received"]) == (
        kind,
        outcome.status,
        outcome.rows_received,
    )


def test_messages_tell_the_clerk_what_to_fix(paths, tmp_path):
    ingest_text(paths, tmp_path, "e.csv", "enterprises", ENTERPRISES, "utf-8-sig")
    ingest_text(paths, tmp_path, "w.csv", "workers", WORKERS, "gb18030")
    messages = {(q["file_name"], q["row_number"]): q["message"] for q in lake_rows(paths, "audit/quarantine")}
    assert "was replaced on 2002-12-26" in messages[("e.csv", 7)]
    assert "“99”" in messages[("e.csv", 6)] and "division" in messages[("e.csv", 6)]
    assert "check character" in messages[("e.csv", 5)]
    assert "already in row 3" in messages[("e.csv", 13)]
    assert "check digit" in messages[("w.csv", 5)]
    assert "18 characters" in messages[("w.csv", 6)]
    assert "not a real date" in messages[("w.csv", 7)]
    assert "existed in the birth year" in messages[("w.csv", 8)]
    assert "after the date the file was received" in messages[("w.csv", 9)]
    assert "九级工" in messages[("w.csv", 15)]
    assert "“2015”" in messages[("e.csv", 17)] and "2016–2035" in messages[("e.csv", 17)]
    assert "not a year" in messages[("e.csv", 18)]
    assert messages[("e.csv", 19)] == (
        "the 一线职工教育培训经费支出 “12,000” is more than the 职工教育经费提取额 “1”, of which it is a part; "
        "check the digits and the units."
    )
    assert "职工教育经费提取额 “6”" in messages[("e.csv", 20)] and "职工工资总额 “50000”" in messages[("e.csv", 20)]
    assert "“2040”" in messages[("w.csv", 20)] and "reporting calendar" in messages[("w.csv", 20)]
    assert messages[("w.csv", 21)] == (
        "the 工匠称号 “县级工匠” is not a craftsman title; write 大国工匠, 省级工匠 or 市级工匠, "
        "or leave the cell blank when the worker holds none."
    )
    assert "获评年份 “2026”" in messages[("w.csv", 22)] and "the year the file was received" in messages[("w.csv", 22)]
    assert "获评年份 “去年” is not a year" in messages[("w.csv", 23)]
    assert "获评年份 is filled in but the 工匠称号 is blank" in messages[("w.csv", 24)]
    for (file_name, row_number), message in messages.items():
        if file_name == "w.csv":
            assert not any(n in message for n in (A, B, C, D, BAD_CHECK, BAD_LENGTH)), row_number


def test_a_header_multiplier_and_unknown_columns(paths, tmp_path):
    text = csv_text(
        [
            ["年份", "职业名称", "技能等级", "行政区划代码", "月平均工资(万元)", "人数", "说明"],
            ["2024", "焊工", "技师", "530700", "0.65", "4", "抽样"],
        ]
    )
    ingest_text(paths, tmp_path, "wages.csv", "wages", text)
    [row] = lake_rows(paths, "raw/wages")
    assert (row["monthly_wage_yuan"], row["occupation_code"]) == (6500.0, None)


# --------------------------------------------------------------------------------------------------
# The SQL check-digit / check-character functions agree with python-stdnum
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sql():
    """A connection with the loader's macros, reference tables and UDFs (pseudonym key ``k``)."""
    con = duckdb.connect()
    install_sql(con, b"k")
    yield con
    con.close()


def stdnum_ric_valid(number: str) -> bool:
    try:
        return ric.is_valid(number)
    except Exception:  # stdnum raises KeyError for an address code whose county is unknown
        return False


ADDRESSES = sorted({code for code, _first, _last in ric_address_codes()})
DATED_ADDRESSES = sorted({code for code, first, last in ric_address_codes() if first or last})


@st.composite
def ric_numbers(draw) -> str:
    area = draw(
        st.one_of(
            st.sampled_from(ADDRESSES),
            st.sampled_from(DATED_ADDRESSES),  # codes valid only in some years
            st.text("0123456789", min_size=6, max_size=6),
        )
    )
    birth = f"{draw(st.integers(0, 2030)):04d}{draw(st.integers(0, 13)):02d}{draw(st.integers(0, 32)):02d}"
    number = rid(area, birth, f"{draw(st.integers(0, 999)):03d}")
    mutation = draw(st.sampled_from(["none", "none", "digit", "swap", "check", "drop", "add", "letter"]))
    position = draw(st.integers(0, 16))
    if mutation == "digit":
        number = number[:position] + draw(st.sampled_from("0123456789")) + number[position + 1 :]
    elif mutation == "swap":
        number = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    elif mutation == "check":
        number = number[:-1] + draw(st.sampled_from("0123456789X"))
    elif mutation == "drop":
        number = number[:position] + number[position + 1 :]
    elif mutation == "add":
        number = number + draw(st.sampled_from("0123456789X"))
    elif mutation == "letter":
        number = number[:position] + draw(st.sampled_from("AXY")) + number[position + 1 :]
    return number


@st.composite
def uscc_codes(draw) -> str:
    body = draw(st.text("0123456789", min_size=8, max_size=8)) + draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    code = cc(body)
    mutation = draw(st.sampled_from(["none", "none", "char", "swap", "check", "drop", "lower", "spaced"]))
    position = draw(st.integers(0, 16))
    if mutation == "char":
        code = code[:position] + draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")) + code[position + 1 :]
    elif mutation == "swap":
        code = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    elif mutation == "check":
        code = code[:-1] + draw(st.sampled_from(USCC_ALPHABET + "IOSVZ"))
    elif mutation == "drop":
        code = code[:position] + code[position + 1 :]
    elif mutation == "lower":
        code = code.lower()
    elif mutation == "spaced":
        code = f"{code[:2]} {code[2:8]}-{code[8:]}"
    return code


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ric_numbers(), min_size=1, max_size=60))
def test_sql_id_number_check_agrees_with_stdnum(sql, numbers):
    result = sql.execute(
        "select v, ric_problem(v, ric_digits(v), ric_address_ok(ric_area(v), ric_birth_year(v))) is null, "
        "case when regexp_full_match(v, '[0-9]{17}[0-9X]') then ric_check_char(v) end "
        "from unnest(?::varchar[]) with ordinality t(v, i) order by i",
        [numbers],
    ).fetchall()
    for number, sql_valid, sql_check in result:
        assert sql_valid == stdnum_ric_valid(number), number
        if sql_check is not None:
            assert sql_check == ric.calc_check_digit(number), number


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(uscc_codes(), min_size=1, max_size=60))
def test_sql_credit_code_check_agrees_with_stdnum(sql, codes):
    result = sql.execute(
        "select v, uscc_problem(md_code(v)) is null, "
        "case when regexp_full_match(md_code(v), '[0-9]{8}[0-9A-HJ-NP-RTUWXY]{10}') "
        "then uscc_check_char(md_code(v)) end "
        "from unnest(?::varchar[]) with ordinality t(v, i) order by i",
        [codes],
    ).fetchall()
    for code, sql_valid, sql_check in result:
        assert sql_valid == uscc.is_valid(code), code
        if sql_check is not None:
            assert sql_check == uscc.calc_check_digit(uscc.compact(code)), code


# The fast paths of the cleaning macros give what the general expressions give
_FULLWIDTH_SAMPLE = "０１２３４５６７８９．－／，\u3000\u00a0ＡＸ"
_CELL_CHARS = "0123456789" * 3 + "--//..,，  \t\n年月日万元Xx:T+e" + _FULLWIDTH_SAMPLE
# md_clean as it was written before its fast path: translate, then trim, then '' → null
_GENERAL_CLEAN = "nullif(trim(translate(v, ?, ?), ' ' || chr(9) || chr(10) || chr(13)), '')"


@st.composite
def typed_cells(draw) -> str:
    """Cells as people type numbers and dates, well-formed or nearly."""
    shaped = draw(
        st.one_of(
            st.builds("{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)),
            st.builds("{}.{}".format, st.integers(0, 10**6), st.integers(0, 999)),
            st.integers(0, 10**12).map(str),
        )
    )
    noise = draw(st.text(_CELL_CHARS, max_size=4))
    where = draw(st.sampled_from(["none", "none", "before", "after", "inside"]))
    if where == "before":
        return noise + shaped
    if where == "after":
        return shaped + noise
    if where == "inside":
        cut = draw(st.integers(0, len(shaped)))
        return shaped[:cut] + noise + shaped[cut:]
    return shaped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(typed_cells(), st.text(_CELL_CHARS, max_size=14)), min_size=1, max_size=80))
def test_cleaning_fast_paths_agree_with_the_general_expressions(sql, cells):
    from ingest.microdata import _FULLWIDTH, _HALFWIDTH

    rows = sql.execute(
        f"""
        select v, md_clean(v), {_GENERAL_CLEAN},
               md_number_text(md_clean(v)), md_number_any(md_clean(v)),
               md_date_text(md_clean(v)), md_date_any(md_clean(v))
        from unnest(?::varchar[]) with ordinality t(v, i) order by i
        """,
        [_FULLWIDTH, _HALFWIDTH, cells],
    ).fetchall()
    for cell, clean, general_clean, number, general_number, day, general_day in rows:
        assert clean == general_clean, repr(cell)
        assert number == general_number, repr(cell)
        assert day == general_day, repr(cell)


_CODE_CHARS = "0123456789" * 3 + "ABCXYZ" * 2 + "xyz -_.\t" + "０９ＡＸ－\u3000\u00a0"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(ric_numbers(), uscc_codes(), st.text(_CODE_CHARS, max_size=20), typed_cells()),
        min_size=1,
        max_size=80,
    )
)
def test_code_fast_path_agrees_with_the_general_expression(sql, cells):
    from ingest.microdata import _GENERAL_CODE

    sql.execute(f"create or replace macro general_code(s) as {_GENERAL_CODE}")
    rows = sql.execute(
        "select v, md_code(v), general_code(v) from unnest(?::varchar[]) with ordinality t(v, i) order by i", [cells]
    ).fetchall()
    for cell, code, general in rows:
        assert code == general, repr(cell)


def test_codes_are_read_as_people_type_them(sql):
    cells = ["530702", " 530702 ", "５３０７０２", "91530100-MA6K", "91530100ma6k", "", "\u3000", None]
    rows = sql.execute("select md_code(v) from unnest(?::varchar[]) with ordinality t(v, i) order by i", [cells])
    assert [code for (code,) in rows.fetchall()] == [
        "530702",
        "530702",
        "530702",
        "91530100MA6K",
        "91530100MA6K",
        None,
        None,
        None,
    ]


def test_cleaning_reads_what_people_type(sql):
    cells = [
        "  40 ",
        "４０",
        "1,234",
        "0.65万",
        "6500元",
        "40小时",
        "2024-03-01",
        "2024/3/1",
        "2024年3月1日",
        "20240301",
        "2024-02-30",
        "\u3000",
    ]
    rows = sql.execute(
        "select md_number(v), md_date(v) from unnest(?::varchar[]) with ordinality t(v, i) order by i", [cells]
    ).fetchall()
    assert [n for n, _ in rows] == [40, 40, 1234, 6500, 6500, None, None, None, None, 20240301, None, None]
    assert [d for _, d in rows][6:11] == [date(2024, 3, 1)] * 4 + [None]


def test_the_pseudonym_is_the_one_used_everywhere(sql):
    con = sql
    [(sql_pseudonym,)] = con.execute("select md_pseudonymise(?)", [A]).fetchall()
    assert sql_pseudonym == make_pseudonymiser(b"k")(A)
    [(scrubbed,)] = con.execute("select md_scrub(?)", [f"联系人{A}。"]).fetchall()
    assert scrubbed == scrub_personal_data(f"联系人{A}。", make_pseudonymiser(b"k"))


# --------------------------------------------------------------------------------------------------
# Files, kinds, idempotency
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("inbox/microdata/workers/2025/part1.csv", "workers"),
        ("inbox/microdata/survey_responses/a.csv", "survey_responses"),
        ("inbox/enterprises_2025.csv", "enterprises"),
        ("inbox/Wages_2024.CSV", "wages"),
        ("inbox/530700-ZGH_2025-Q1.csv", None),
        ("inbox/microdata/unknown/a.csv", None),
        ("inbox/workers.csv", None),
    ],
)
def test_detect_kind(path, kind):
    assert detect_kind(Path(path)) == kind


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("workers_empty.csv", b"", "empty_file"),
        ("workers_book.xlsx", b"PK\x03\x04 whatever", "unsupported_type"),
        ("workers_binary.csv", b"\x00\x01\x02" * 20, "unsupported_type"),
        ("workers_neither.csv", b"\x81\x20" * 40, "bad_encoding"),
        ("workers_notes.csv", "会议纪要\n今天讨论了培训\n".encode(), "no_header"),
        ("workers_noid.csv", "姓名,行政区划代码,技能等级\n张三,530702,技师\n".encode(), "missing_column"),
        ("workers_header.csv", "公民身份号码,行政区划代码,技能等级\n".encode(), "no_data"),
        (
            "workers_long.csv",
            f"公民身份号码,行政区划代码,备注\n{A},530702,{'x' * 2_200_000}\n".encode(),
            "corrupt_file",
        ),
    ],
)
def test_unreadable_files_are_rejected_with_a_reason(paths, tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    outcome = ingest_microdata_file(path, "workers", paths, now=NOW)
    assert (outcome.status, outcome.error_reason) == ("rejected", reason)
    assert outcome.error
    assert lake.is_ingested(paths.lake, outcome.sha256)
    assert (paths.archive / f"{outcome.sha256}{'.bin' if name.endswith('.xlsx') else '.csv'}").read_bytes() == content


def test_a_roster_rejected_for_its_name_or_folder_loads_once_sent_as_it_should_be(paths, tmp_path):
    text = csv_text([["公民身份号码", "行政区划代码", "技能等级"], [A, "530702", "技师"]])
    saved_as_dat = ingest_text(paths, tmp_path, "workers_2025.dat", "workers", text)
    assert (saved_as_dat.status, saved_as_dat.error_reason) == ("rejected", "unsupported_type")
    assert ingest_text(paths, tmp_path, "workers_2025.dat", "workers", text).status == "duplicate"  # same name
    # renamed, but put in the trainings folder: rejected as trainings (not a trainings header)
    wrong_folder = ingest_text(paths, tmp_path, "workers_2025.csv", "trainings", text)
    assert (wrong_folder.status, wrong_folder.error_reason) == ("rejected", "no_header")
    loaded = ingest_text(paths, tmp_path, "workers_2025.csv", "workers", text)
    assert (loaded.status, loaded.rows_accepted) == ("loaded", 1)
    [record] = pq.read_table(lake.marker_path(paths.lake, loaded.sha256)).to_pylist()
    assert (record["file_name"], record["source"], record["status"]) == ("workers_2025.csv", "workers", "loaded")
    assert ingest_text(paths, tmp_path, "copy.csv", "workers", text).status == "duplicate"


def test_a_workbook_named_csv_is_told_to_be_saved_as_csv(paths, tmp_path):
    path = tmp_path / "workers_2025.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 10)  # what Excel writes, renamed
    outcome = ingest_microdata_file(path, "workers", paths, now=NOW)
    assert (outcome.status, outcome.error_reason) == ("rejected", "unsupported_type")
    assert "workbook (.xlsx) named “.csv”" in outcome.error and outcome.error.endswith("and send that.")


def test_every_row_refused_rejects_the_file(paths, tmp_path):
    text = csv_text([["公民身份号码", "行政区划代码"], [BAD_CHECK, "530702"], [A, "999999"]])
    outcome = ingest_text(paths, tmp_path, "w.csv", "workers", text)
    assert (outcome.status, outcome.error_reason, outcome.rows_quarantined) == ("rejected", "all_rows_quarantined", 2)


def test_the_same_bytes_twice_change_nothing(paths, tmp_path):
    first = ingest_text(paths, tmp_path, "workers_a.csv", "workers", WORKERS, "gb18030")
    snapshot = {p: p.read_bytes() for p in paths.lake.rglob("*.parquet")}
    archived = sorted(paths.archive.iterdir())
    (tmp_path / "copy").mkdir()
    again = ingest_text(paths, tmp_path / "copy", "workers_b.csv", "workers", WORKERS, "gb18030")
    assert (again.status, again.sha256) == ("duplicate", first.sha256)
    assert "workers_a.csv" in again.error
    assert {p: p.read_bytes() for p in paths.lake.rglob("*.parquet")} == snapshot
    assert sorted(paths.archive.iterdir()) == archived
    assert (paths.archive / f"{first.sha256}.csv").read_bytes() == WORKERS.encode("gb18030")


def test_reprocessing_an_archived_file_keeps_its_name_and_receipt_time(paths, tmp_path):
    first = ingest_text(paths, tmp_path, "workers_2025.csv", "workers", WORKERS, "gb18030")
    marker = lake.read_marker(paths.lake, first.sha256)
    archived = paths.home / str(marker["archive_path"])
    again = ingest_microdata_file(archived, "workers", paths, reprocess_as=marker)
    assert (again.status, again.file_name, again.rows_accepted) == (
        first.status,
        "workers_2025.csv",
        first.rows_accepted,
    )
    assert lake.read_marker(paths.lake, first.sha256)["received_at"] == NOW
    assert {r["file_name"] for r in lake_rows(paths, "raw/workers")} == {"workers_2025.csv"}
    assert len(lake_rows(paths, "raw/workers")) == first.rows_accepted
    # a file refused for its type, archived as <sha256>.bin, is read again as the type it was sent as
    book = ingest_text(paths, tmp_path, "workers_2025.xlsx", "workers", "PK not really")
    marker = lake.read_marker(paths.lake, book.sha256)
    ingest_microdata_file(paths.home / str(marker["archive_path"]), "workers", paths, reprocess_as=marker)
    assert lake.read_marker(paths.lake, book.sha256) == marker and "“.xlsx”" in str(marker["error"])


def test_progress_is_reported_stage_by_stage(paths, tmp_path):
    calls: list[tuple[str, float]] = []
    path = tmp_path / "workers_gbk.csv"
    path.write_bytes(WORKERS.encode("gb18030"))
    started = time.perf_counter()
    outcome = ingest_microdata_file(path, "workers", paths, progress=lambda stage, done: calls.append((stage, done)))
    wall = time.perf_counter() - started
    stages = list(dict.fromkeys(stage for stage, _ in calls))
    assert stages == ["scan", "transcode", "read", "check", "dedupe", "write"]
    assert all(0.0 <= done <= 1.0 for _, done in calls)
    assert all((stage, 1.0) in calls for stage in stages)
    # the outcome says how long each step took (the benchmark's "Microdata by step"): one after the
    # other, so they add up to the load's time
    assert list(outcome.steps) == stages
    assert all(seconds >= 0 for seconds in outcome.steps.values())
    assert 0.5 * wall <= sum(outcome.steps.values()) <= wall
    # without a callback too; the same bytes again only scan them
    again = ingest_microdata_file(path, "workers", Paths.from_env(tmp_path / "other").ensure())
    assert list(again.steps) == stages
    assert list(ingest_microdata_file(path, "workers", paths).steps) == ["scan"]


def test_steps_by_source_adds_up_each_sources_files():
    def outcome(source: str, steps: dict[str, float]) -> FileOutcome:
        return FileOutcome("f.csv", "0" * 64, "loaded", source=source, steps=steps)

    outcomes = [
        outcome("workers", {"scan": 1.0, "read": 2.0}),
        outcome("workers", {"scan": 0.5, "transcode": 3.0, "read": 1.0}),
        outcome("trainings", {"scan": 0.34}),
        outcome("submissions", {}),  # a form has no steps
    ]
    table = steps_by_source(outcomes)
    assert table == {
        "workers": {"scan": 1.5, "transcode": 3.0, "read": 3.0},
        "trainings": {"scan": 0.3, "transcode": 0.0, "read": 0.0},
    }
    assert all(list(steps) == ["scan", "transcode", "read"] for steps in table.values())  # the order they run


# --------------------------------------------------------------------------------------------------
# The generated corpus: reconciliation and personal data
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    home = tmp_path_factory.mktemp("microdata-home")
    paths = Paths.from_env(home).ensure()
    files = generate_microdata(paths.inbox / "microdata", scale="small", seed=7)
    outcomes = [(kind, ingest_microdata_file(f, kind, paths)) for f, kind in iter_microdata_files(paths.inbox)]
    return paths, files, outcomes


def test_generated_corpus_reconciles(generated):
    paths, files, outcomes = generated
    assert len(outcomes) == len(files) == 7
    assert {kind for kind, _ in outcomes} == set(KINDS)
    markers = {m["file_sha256"]: m for m in lake_rows(paths, "audit/ingest_files")}
    quarantine = lake_rows(paths, "audit/quarantine")
    for kind, outcome in outcomes:
        assert outcome.status == "loaded_with_quarantine"
        assert outcome.rows_received == outcome.rows_accepted + outcome.rows_quarantined
        marker = markers[outcome.sha256]
        assert marker["source"] == kind
        assert (marker["rows_accepted"], marker["rows_quarantined"]) == (
            outcome.rows_accepted,
            outcome.rows_quarantined,
        )
        raw = pq.read_table(paths.lake / "raw" / kind / f"{outcome.sha256}.parquet")
        assert raw.num_rows == outcome.rows_accepted
        assert sum(q["file_sha256"] == outcome.sha256 for q in quarantine) == outcome.rows_quarantined
    assert {q["reason_code"] for q in quarantine} <= REASONS
    assert {
        "bad_id_number",
        "bad_credit_code",
        "unknown_industry",
        "unknown_region",
        "unknown_grade",
        "bad_date",
        "negative_value",
        "bad_year",
        "unknown_title",
        "duplicate_row",
    } <= {q["reason_code"] for q in quarantine}


def test_generated_rosters_carry_the_reference_year_education_funds_and_craftsman_titles(generated):
    paths, _files, _outcomes = generated
    enterprises, workers = lake_rows(paths, "raw/enterprises"), lake_rows(paths, "raw/workers")
    assert {r["reference_year"] for r in enterprises + workers} == {2025}  # written 2025, 2025年 or 2025年度
    with_funds = [r for r in enterprises if r["education_fund_yuan"] is not None and r["payroll_yuan"] is not None]
    assert len(enterprises) > len(with_funds) > len(enterprises) / 2  # some rosters leave them blank
    for r in with_funds:  # amounts typed in 万 with two decimals are off by up to 50 yuan
        payroll, fund, frontline = r["payroll_yuan"], r["education_fund_yuan"], r["frontline_education_yuan"]
        assert 0.01 * payroll - 50 <= fund <= 0.08 * payroll + 50, r  # 1-8 % of the payroll
        if frontline is not None:
            assert 0.40 * fund - 100 <= frontline <= 0.95 * fund + 100, r  # 40-95 % of the fund
    for r in enterprises:
        if r["payroll_yuan"] is not None:  # headcount × a monthly wage of 4,000-9,000 × 12, to the 万元 typed
            assert 4_000 * 12 * r["headcount"] - 5_000 <= r["payroll_yuan"] <= 9_000 * 12 * r["headcount"] + 5_000
    titles = {level: [r for r in workers if r["craftsman_level"] == level] for level in
              ("great_craftsman", "provincial_craftsman", "city_craftsman")}  # fmt: skip
    # about 0.5, 1.5 and 8 per 1,000 of the ~2,000 workers (less the few whose rows are refused)
    assert 1 <= len(titles["great_craftsman"]) <= 2
    assert 1 <= len(titles["provincial_craftsman"]) <= 4
    assert 10 <= len(titles["city_craftsman"]) <= 20
    assert all(2016 <= r["craftsman_year"] <= 2025 for rows in titles.values() for r in rows)
    assert all(r["craftsman_year"] is None for r in workers if r["craftsman_level"] is None)


def test_files_without_the_new_columns_still_load(paths, tmp_path):
    """Reference year, craftsman title and education funds are optional columns: older layouts load,
    with nulls in the lake's columns for them."""
    ingest_text(
        paths, tmp_path, "workers_old.csv", "workers", csv_text([["公民身份号码", "行政区划代码"], [A, "530702"]])
    )
    ingest_text(
        paths,
        tmp_path,
        "enterprises_old.csv",
        "enterprises",
        csv_text(
            [
                ["统一社会信用代码", "行业代码", "行政区划代码", "登记注册类型", "职工人数"],
                [E[0], "33", "530702", "170", "5"],
            ]
        ),
    )
    [worker] = lake_rows(paths, "raw/workers")
    assert (worker["reference_year"], worker["craftsman_level"], worker["craftsman_year"]) == (None, None, None)
    [enterprise] = lake_rows(paths, "raw/enterprises")
    assert [enterprise[c] for c in ("reference_year", "payroll_yuan", "education_fund_yuan")] == [None] * 3
    assert enterprise["frontline_education_yuan"] is None
    for kind in ("workers", "enterprises"):
        [raw_file] = (paths.lake / "raw" / kind).glob("*.parquet")
        assert fields(pq.read_schema(raw_file)) == fields(lake.RAW_SCHEMAS[kind])


def test_generated_corpus_is_deterministic(tmp_path):
    first = {p.name: p.read_bytes() for p in generate_microdata(tmp_path / "a", seed=3)}
    second = {p.name: p.read_bytes() for p in generate_microdata(tmp_path / "b", seed=3)}
    assert first == second
    assert first["workers_2025_part1.csv"].decode("gb18030").startswith("姓名,公民身份号码")
    assert "社会信用代码" in first["enterprises_2025.csv"].decode("utf-8-sig")


def _personal_values(files: list[Path]) -> set[str]:
    """Every ID number, name and phone number written into the generated files."""
    values: set[str] = set()
    for path in files:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig") if _is_utf8(raw) else raw.decode("gb18030")
        rows = list(csv.reader(io.StringIO(text)))
        header_index = next(i for i, row in enumerate(rows) if len(row) > 2)
        header = rows[header_index]
        for row in rows[header_index + 1 :]:
            for column, cell in zip(header, row, strict=False):
                if column in ("姓名", "法定代表人", "联系电话") or (len(cell) >= 17 and cell[:17].isdigit()):
                    values.add(cell)
                    values.add(cell.upper())
    return {v for v in values if v}


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_no_id_number_or_name_reaches_any_parquet_file(generated, paths, tmp_path):
    lake_paths, files, _outcomes = generated
    personal = _personal_values(files)
    assert len(personal) > 1000
    assert len(leaked(files[1].read_bytes().decode("gb18030"), personal)) > 1000  # the detector finds them
    # and the fixture corpus, with IDs in notes, in free text and as survey respondents
    for kind, name, text, encoding, _rows, _reasons in CORPUS:
        ingest_text(paths, tmp_path, name, kind, text, encoding)
    personal |= {A, B, C, C.lower(), D, BAD_CHECK, BAD_LENGTH, BAD_BIRTH, BAD_AREA, FUTURE, *NAMES}
    parquet_files = [*lake_paths.lake.rglob("*.parquet"), *paths.lake.rglob("*.parquet")]
    assert len(parquet_files) > 20
    for parquet in parquet_files:
        data = parquet.read_bytes().decode("utf-8", errors="ignore")  # the bytes, compressed or not
        decoded = json.dumps(pq.read_table(parquet).to_pylist(), ensure_ascii=False, default=str)
        assert not leaked(data, personal), parquet.name
        assert not leaked(decoded, personal), parquet.name


def leaked(text: str, personal: set[str]) -> set[str]:
    """Personal values inside ``text``: runs of digits (ID and phone numbers) and every 2-4 character
    piece of each run of Chinese characters (names), looked up in the set."""
    found = {m for m in re.findall(r"\d{11,18}[Xx]?", text) if m in personal or m.upper() in personal}
    for run in re.findall(r"[\u4e00-\u9fff]{2,}", text):
        for size in (2, 3, 4):
            found |= {run[i : i + size] for i in range(len(run) - size + 1)} & personal
    return found


# --------------------------------------------------------------------------------------------------
# Personal data that reached the lake in clear, misaligned rows, units (fuzz review)
# --------------------------------------------------------------------------------------------------

_SCRUB_SAMPLES = [
    f"身份证{A}。",
    "".join(chr(ord(c) + 0xFEE0) for c in A),  # full-width
    f"ID{A}",
    f"{A[:6]} {A[6:14]} {A[14:]}",
    f"{A[:6]}-{A[6:14]}-{A[14:]}",
    "身份证110105900307001号",  # 15 digits, before 1999
    "电话13800001111",
    "138 0000 1111",
    "+86-138-0000-1111",
    "手机\n13800001111",
    "13８0000１111",
    "１３８００００１１１１",
    "＋86 13800001111",
    "+8613800001111",
    f"{A[:6]} {A[6:]}",
    "电话0888-5123456转801",
    "(0871)65123456",
    "（０８７１） 65123456",
    "010 12345678",
    "530702",
    E[0],
    "",
]
_SCRUB_CHARS = "0123456789" * 4 + "０１３９" + "13" * 4 + "0" * 4 + "Xx +-86\n\u3000ID号()（）－＋"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(_SCRUB_CHARS, max_size=40), min_size=1, max_size=60))
def test_the_sql_scrub_lets_every_shape_the_python_scrub_replaces_through(sql, texts):
    """md_scrub's gate is a superset of ingest.submissions.scrub_personal_data: the same text comes out."""
    texts = _SCRUB_SAMPLES + texts
    rows = sql.execute("select md_scrub(v) from unnest(?::varchar[]) with ordinality t(v, i) order by i", [texts])
    pseudonymise = make_pseudonymiser(b"k")
    assert [s for (s,) in rows.fetchall()] == [scrub_personal_data(t, pseudonymise) for t in texts]


def test_ids_and_phones_in_free_text_and_raw_values_are_scrubbed(paths, tmp_path):
    wide = "".join(chr(ord(c) + 0xFEE0) for c in B)
    text = csv_text(
        [
            ["公民身份号码", "培训项目", "培训学时", "开始日期", "培训机构"],
            [A, "焊工 110105900307001", "40", "2025-03-01", "联系138-0000-1111"],
            [A, f"电工{wide}", "很多", "2025-03-01", "13900001111"],
        ]
    )
    ingest_text(paths, tmp_path, "t.csv", "trainings", text)
    [row] = lake_rows(paths, "raw/trainings")
    assert row["course_name"] == f"焊工 <id:{pseudo('110105900307001')}>"
    assert row["provider_name"] == "联系<phone>"
    [q] = lake_rows(paths, "audit/quarantine")
    raw = json.loads(q["raw_values"])
    assert raw["培训项目"] == f"电工<id:{pseudo(B)}>" and raw["培训机构"] == "<phone>"


def test_an_id_number_or_phone_in_a_microdata_file_name_never_reaches_the_lake(paths, tmp_path):
    text = csv_text([["公民身份号码", "培训项目", "培训学时", "开始日期"], [A, "焊工", "40", "2025-03-01"],
                     [A, "焊工", "很多", "2025-03-01"]])  # fmt: skip
    outcome = ingest_text(paths, tmp_path, f"培训_{B}_13900001111.csv", "trainings", text)
    recorded = f"培训_<id:{pseudo(B)}>_<phone>.csv"
    assert (outcome.status, outcome.file_name) == ("loaded_with_quarantine", recorded)
    for folder in ("raw/trainings", "audit/quarantine", "audit/ingest_files"):
        assert {r["file_name"] for r in lake_rows(paths, folder)} == {recorded}
    again = ingest_text(paths, tmp_path, f"培训_{B}_13900001111.csv", "trainings", text)
    assert again.status == "duplicate" and again.file_name == recorded


def test_columns_under_unknown_headers_stay_out_of_the_quarantine_of_personal_files(paths, tmp_path):
    header = ["公民身份号码", "培训项目", "培训学时", "开始日期", "电话号码", "联系方式", "移动电话", "户籍所在地"]
    row = [A, "焊工", "很多", "2025-03-01", "0888-5123456", "微信 zhangsan88", "1390000111", "云南省丽江市古城区"]
    ingest_text(paths, tmp_path, "t.csv", "trainings", csv_text([header, row]))
    roster = [["统一社会信用代码", "行业代码", "行政区划代码", "登记注册类型", "职工人数", "说明"]]
    ingest_text(
        paths, tmp_path, "e.csv", "enterprises", csv_text([*roster, [E[0], "33", "530702", "私营", "x", "抽样"]])
    )
    raw = {q["file_name"]: json.loads(q["raw_values"]) for q in lake_rows(paths, "audit/quarantine")}
    assert raw["t.csv"] == {
        "公民身份号码": f"<id:{pseudo(A)}>",
        "培训项目": "焊工",
        "培训学时": "很多",
        "开始日期": "2025-03-01",
    }
    assert raw["e.csv"]["说明"] == "抽样"  # a roster without personal data keeps its other columns


def test_a_row_with_fewer_cells_than_the_header_is_misaligned(paths, tmp_path):
    header = ["姓名", "公民身份号码", "性别", "用人单位统一社会信用代码", "行政区划代码", "联系电话", "统计年度"]
    rows = [
        ["张三", A, "男", E[0], "530702", "13800001111", "2025"],
        ["李四", B, E[0], "530702", "13900002222", "2025"],  # 性别 left out: the phone number moved left
    ]
    ingest_text(paths, tmp_path, "w.csv", "workers", csv_text([header, *rows]))
    [q] = lake_rows(paths, "audit/quarantine")
    assert (q["row_number"], q["reason_code"]) == (3, "malformed_row")
    assert "fewer cells than the header (7 columns)" in q["message"]
    assert "13900002222" not in q["raw_values"] and "cells withheld" in q["raw_values"]
    # unnamed columns at the end of the header (a trailing comma) may be left out of the rows
    text = "公民身份号码,培训项目,培训学时,开始日期,,\r\n" + f"{A},焊工,40,2025-03-01\r\n"
    assert ingest_text(paths, tmp_path, "t.csv", "trainings", text).status == "loaded"


def test_an_unclosed_quote_says_how_many_lines_it_took_in(paths, tmp_path):
    header = ["姓名", "公民身份号码", "培训项目", "培训学时", "开始日期", "培训机构"]
    rows = [["张三", A, f"课程{i}", "8", f"2025-03-0{i}", "技师学院"] for i in range(1, 7)]
    lines = csv_text([header, *rows]).split("\r\n")
    lines[2] = lines[2].replace(",2025-03-02,", ',"2025-03-02,')  # row 2 (line 3) opens a quote, never closed
    outcome = ingest_text(paths, tmp_path, "t.csv", "trainings", "\r\n".join(lines))
    [q] = lake_rows(paths, "audit/quarantine")
    assert (q["row_number"], q["reason_code"]) == (3, "malformed_row")
    assert "never closed, so the 4 lines after it were read into this row and not loaded" in q["message"]
    assert (outcome.rows_accepted, outcome.rows_quarantined) == (1, 1)
    assert "张三" not in q["raw_values"]  # a personal file's misaligned row keeps no cells
    lines[2], lines[4] = lines[2].replace(',"2025', ",2025"), lines[4].replace(",2025-03-04,", ',"2025-03-04,')
    ingest_text(paths, tmp_path, "t2.csv", "trainings", "\r\n".join(lines[:6]) + "\r\n")
    [q] = [q for q in lake_rows(paths, "audit/quarantine") if q["file_name"] == "t2.csv"]
    assert q["row_number"] == 5 and "so the line after it was read into this row" in q["message"]


def test_every_row_reason_has_the_reports_label():
    """The annual report names each quarantine reason in Chinese; a reason without a label shows its code."""
    table = microdata.__doc__.split("File-level reasons")[0]
    codes = set(re.findall(r"^``(\w+)``", table, re.MULTILINE))
    assert {"malformed_row", "bad_encoding", "duplicate_row"} <= codes
    assert codes - set(QUARANTINE_REASONS) == set()


def test_a_utf8_file_with_a_cell_pasted_from_gbk_quarantines_that_row_and_reads_the_rest(paths, tmp_path):
    header = "公民身份号码,培训项目,培训学时,开始日期\r\n"
    rows = [f"{A},焊接课程{i},8,2025-03-01\r\n" for i in range(300)]
    data = (header + "".join(rows[:150])).encode() + f"{B},".encode() + "电工".encode("gbk") + b",8,2025-03-01\r\n"
    path = tmp_path / "t.csv"
    path.write_bytes(data + "".join(rows[150:]).encode())
    outcome = ingest_microdata_file(path, "trainings", paths, now=NOW)
    assert (outcome.status, outcome.rows_accepted, outcome.rows_quarantined) == ("loaded_with_quarantine", 300, 1)
    [q] = lake_rows(paths, "audit/quarantine")
    assert (q["row_number"], q["reason_code"]) == (152, "bad_encoding")
    assert "the file is UTF-8, but some rows have bytes that are not" in q["message"]
    courses = [r["course_name"] for r in lake_rows(paths, "raw/trainings")]
    assert courses == [f"焊接课程{i}" for i in range(300)]  # read as UTF-8, not as GB18030 mojibake
    # a GBK file stays GBK, however much of it is ASCII; a file of ASCII alone with one GBK cell is GBK
    for name, text in [("gbk.csv", header + "".join(rows)), ("ascii.csv", header + f"{A},电工,8,2025-03-01\r\n")]:
        path = tmp_path / name
        path.write_bytes((text + "".join(f"{B},welding{i},8,2025-03-01\r\n" for i in range(2000))).encode("gbk"))
        assert ingest_microdata_file(path, "trainings", paths, now=NOW).status == "loaded"
    courses = {r["course_name"] for r in lake_rows(paths, "raw/trainings") if r["file_name"] != "t.csv"}
    assert courses == {f"焊接课程{i}" for i in range(300)} | {"电工"} | {f"welding{i}" for i in range(2000)}


def test_a_replacement_character_written_in_a_utf8_file_is_not_a_stray_byte(paths, tmp_path):
    """U+FFFD is a character like any other: a valid UTF-8 file holding one is read as UTF-8."""
    text = "公民身份号码,培训项目,培训学时,开始日期\r\n" + f"{A},焊工\ufffd,8,2025-03-01\r\n{B},weld,8,2025-03-01\r\n"
    outcome = ingest_text(paths, tmp_path, "t.csv", "trainings", text)
    assert (outcome.status, outcome.rows_accepted) == ("loaded", 2)
    assert [r["course_name"] for r in lake_rows(paths, "raw/trainings")] == ["焊工\ufffd", "weld"]


def test_every_survey_respondent_reaches_the_lake_as_a_pseudonym(paths, tmp_path):
    header = ["问卷编号", "行政区划代码", "设计权重", "满意度"]
    held = ["110105900307001", "13800001111", f"ID{A}", f"{A[:6]} {A[6:]}", "Q-7"]
    rows = [[r, "530702", "2", "4"] for r in held] + [["13900002222", "530702", "2", "9"]]
    ingest_text(paths, tmp_path, "s.csv", "survey_responses", csv_text([header, *rows]))
    lake = lake_rows(paths, "raw/survey_responses")
    wanted = [pseudo("110105900307001"), pseudo("13800001111"), pseudo(f"ID{A}"), pseudo(A), pseudo("Q7")]
    assert [(r["respondent_id"], r["respondent_id_is_pseudonym"]) for r in lake] == [(p, True) for p in wanted]
    [q] = lake_rows(paths, "audit/quarantine")
    assert json.loads(q["raw_values"])["问卷编号"] == f"<id:{pseudo('13900002222')}>"


def test_a_cell_with_its_own_unit_is_not_multiplied_by_the_headers_and_counts_take_the_headers(paths, tmp_path):
    header = ["统一社会信用代码", "行业代码", "行政区划代码", "登记注册类型", "职工人数(万人)", "统计年度",
              "职工工资总额(万元)", "职工教育经费提取额(万元)"]  # fmt: skip
    rows = [
        [E[0], "33", "530702", "私营", "1.2", "2025", "7.18万", "0.5"],
        [E[1], "33", "530702", "私营", "0.57", "2025", "7.18", "0.5万元"],
        [E[2], "33", "530702", "私营", "0.00001", "2025", "8", ""],
    ]
    ingest_text(paths, tmp_path, "e.csv", "enterprises", csv_text([header, *rows]))
    got = [(r["headcount"], r["payroll_yuan"], r["education_fund_yuan"]) for r in lake_rows(paths, "raw/enterprises")]
    assert got == [(12000, 71800.0, 5000.0), (5700, 71800.0, 5000.0)]
    [q] = lake_rows(paths, "audit/quarantine")
    assert (q["row_number"], q["reason_code"]) == (4, "not_a_number")  # 0.1 of a person


def test_a_count_beyond_the_integer_range_refuses_the_row_not_the_file(paths, tmp_path):
    header = ["统一社会信用代码", "行业代码", "行政区划代码", "登记注册类型", "职工人数", "统计年度"]
    rows = [
        [E[0], "33", "530702", "私营", "99999999999999999999", "2025"],
        [E[1], "33", "530702", "私营", "10", "2025"],
    ]
    outcome = ingest_text(paths, tmp_path, "e.csv", "enterprises", csv_text([header, *rows]))
    assert (outcome.status, outcome.rows_accepted) == ("loaded_with_quarantine", 1), outcome.error
    [q] = lake_rows(paths, "audit/quarantine")
    assert q["reason_code"] == "not_a_number" and "too large" in q["message"]


def test_numbers_badly_grouped_or_negative_zero(sql):
    cells = ["1,2,3", "12,34", "1,234,567.5", "-0", "-0.0万", "0.57万"]
    rows = sql.execute("select md_number(v) from unnest(?::varchar[]) with ordinality t(v, i) order by i", [cells])
    numbers = [n for (n,) in rows.fetchall()]
    assert numbers == [None, None, 1234567.5, 0.0, 0.0, 5700.0]
    assert [math.copysign(1, n) for n in numbers[3:5]] == [1.0, 1.0]


@pytest.mark.parametrize("block", [5, 256 * 1024])
def test_a_lone_cr_among_other_line_breaks_ends_a_line(paths, tmp_path, monkeypatch, block):
    from ingest import microdata

    monkeypatch.setattr(microdata, "BLOCK_BYTES", block)  # a CRLF split between two blocks is one break
    text = (
        f"公民身份号码,培训项目,培训学时,开始日期\r\n{A},课程A,8,2025-03-01\r{B},课程B,16,2025-03-01\r\n"
        f'{C},"课程\nC",24,2025-03-01\n{D},课程D,32,2025-03-01\r'
    )
    outcome = ingest_text(paths, tmp_path, "t.csv", "trainings", text)
    assert outcome.status == "loaded", outcome.error
    rows = [(r["row_number"], r["course_name"], r["hours"]) for r in lake_rows(paths, "raw/trainings")]
    assert rows == [(2, "课程A", 8.0), (3, "课程B", 16.0), (4, "课程\nC", 24.0), (5, "课程D", 32.0)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "中", "\r", "\n", "\r\n"]), max_size=40),
    st.integers(min_value=1, max_value=8),
)
def test_the_scan_finds_mixed_line_breaks_wherever_the_blocks_end(tmp_path_factory, pieces, block):
    """Mixed: a lone CR beside a CRLF or a lone LF, judged on the whole file however it is cut in blocks."""
    from ingest import microdata

    data = "".join(pieces).encode()
    crlf = data.count(b"\r\n")
    lone_cr, lone_lf = data.count(b"\r") - crlf, data.count(b"\n") - crlf
    path = tmp_path_factory.mktemp("scan") / "t.csv"
    path.write_bytes(data)
    original = microdata.BLOCK_BYTES
    microdata.BLOCK_BYTES = block  # hypothesis runs many examples: no monkeypatch fixture per example
    try:
        scan = microdata.scan_file(path)
    finally:
        microdata.BLOCK_BYTES = original
    assert scan.mixed_line_breaks == (lone_cr > 0 and (crlf > 0 or lone_lf > 0))


# --------------------------------------------------------------------------------------------------
# Scale: bounded memory by design
# --------------------------------------------------------------------------------------------------


def _peak_python_memory(paths: Paths, path: Path) -> tuple[int, object]:
    tracemalloc.start()
    try:
        outcome = ingest_microdata_file(path, "workers", paths, memory_limit="128MB")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, outcome


def test_a_large_worker_file_loads_in_bounded_python_memory(paths, tmp_path):
    """Peak Python memory does not grow with the file: no row is ever held in a Python list."""
    warm, small, large = (tmp_path / f"workers_{n}.csv" for n in ("warm", "small", "large"))
    write_workers(warm, 100, seed=3)
    write_workers(small, 20_000, seed=1)
    write_workers(large, 200_000, seed=2)
    ingest_microdata_file(warm, "workers", paths)  # warm the caches (reference data, stdnum's address table)
    peak_small, _ = _peak_python_memory(paths, small)
    peak_large, outcome = _peak_python_memory(paths, large)
    assert outcome.rows_received >= 200_000
    assert outcome.rows_received == outcome.rows_accepted + outcome.rows_quarantined
    size = large.stat().st_size
    # pandas would need several times the size of the file, rows held in Python lists about ten times
    assert peak_large < size / 8, (peak_large, size)
    assert peak_large < peak_small + 1024 * 1024, (peak_small, peak_large)


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"y" * 65, "长密钥".encode() * 30])
def test_the_sql_pseudonym_is_rfc_2104_hmac_for_any_key(key):
    """Keys shorter than, equal to and longer than SHA-256's block; values of any length and script."""
    from ingest.intake import pseudonym_sql_macro

    con = duckdb.connect()
    con.execute(pseudonym_sql_macro("pseudonym", key))
    for value in (A, "", "身份证号码", "x" * 300):
        [(in_sql,)] = con.execute("select pseudonym(?)", [value]).fetchall()
        assert in_sql == make_pseudonymiser(key)(value)
