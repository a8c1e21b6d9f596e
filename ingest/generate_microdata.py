"""Deterministic synthetic statistical microdata, as CSV files the way bureaus export them.

``generate_microdata(out)`` writes ``out/<kind>/<kind>_….csv`` for the six kinds that
:mod:`ingest.microdata` loads: an enterprise roster, worker records (two parts, one in GB18030 and one
in UTF-8), trainings, skill certifications, wages by occupation × grade and a sample survey with design
weights. Headers are Chinese, as the forms have them; some files start with a title row.

The people and enterprises are invented but shaped like the real thing: resident ID numbers carry a
real address code (one python-stdnum knows for the birth year), a birth date and a GB 11643 check
digit; unified social credit codes carry a region code and a GB 32100 check character; industries are
GB/T 4754-2017 divisions, regions, skill grades, ownership types and worker groups come from the dbt
seeds. Occupation codes are shaped like the 职业分类大典 (2022) codes but the list is a small sample.

Every file also carries the mistakes real exports have, a few rows each (about one in a hundred):
mistyped ID check digits, 17-digit IDs, credit codes with a wrong check character, division 99, a
retired region code, a grade that does not exist, an impossible date, negative hours or headcounts,
a zero design weight, satisfaction 7, a yes/no cell reading "maybe" and repeated rows; rosters and
worker records also get a reference year outside the calendar, a frontline education spend above the
fund, a craftsman title that does not exist and a title year in the future.

Enterprise rosters and worker records state their reference year (统计年度, written 2025, 2025年 or
2025年度). Rosters carry the payroll (headcount × a monthly wage × 12), the staff education fund (1–8 %
of it) and its frontline part (40–95 % of the fund), with some cells left blank; worker records carry
the rare craftsman titles (about 0.5 大国工匠, 1.5 省级工匠 and 8 市级工匠 per 1,000 workers, see
:class:`CraftsmanTitles`) with the year of the title. These columns are drawn from random streams of
their own, so that adding them changed the other cells as little as possible.

Nothing is held in memory per row: :func:`write_workers` streams any number of rows (the benchmark
writes 1,000,000), so the same code makes the demo inbox and the scale test. The same seed always
writes the same bytes.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.config import SEEDS_DIR
from ingest.microdata import USCC_ALPHABET, ric_address_codes
from ingest.reference import read_seed

SCALES = {
    # kind → rows per scale
    "small": {"enterprises": 60, "workers": 2_000, "trainings": 1_500, "certifications": 800, "survey": 600},
    "city": {"enterprises": 2_000, "workers": 100_000, "trainings": 60_000, "certifications": 30_000, "survey": 5_000},
    "province": {
        "enterprises": 1_000_000,
        "workers": 10_000_000,
        "trainings": 30_000_000,
        "certifications": 5_000_000,
        "survey": 50_000,
    },
}
PEOPLE_SAMPLE = 1_000_000  # trainings and certifications name workers drawn from at most this many
INVALID_SHARE = 0.01

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志成文辉斌鹏宇浩凯云飞海波春梅兵"
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
OCCUPATIONS = (  # shaped like 职业分类大典 (2022) codes; a sample, not the catalogue
    ("6-18-01-01", "车工"),
    ("6-18-01-02", "铣工"),
    ("6-18-01-07", "磨工"),
    ("6-18-02-04", "焊工"),
    ("6-31-01-03", "电工"),
    ("6-29-01-01", "砌筑工"),
    ("6-20-03-01", "汽车装调工"),
    ("4-02-02-01", "道路客运汽车驾驶员"),
    ("6-25-04-06", "工业机器人系统操作员"),
    ("6-11-01-03", "化工总控工"),
)
COURSES = (
    "数控车床操作",
    "焊接工艺与安全",
    "低压电工作业",
    "工业机器人运维",
    "智能制造基础",
    "安全生产培训",
    "班组长管理能力提升",
    "新型学徒制培训",
    "电子商务实务",
    "汽车维修技能提升",
)
PROVIDERS = (
    "丽江市技工学校",
    "云南省职业技能鉴定中心",
    "丽江市总工会职工培训中心",
    "企业培训中心",
    "黑龙江技师学院",
    "哈尔滨市职业技能实训基地",
)
ISSUERS = ("丽江市人力资源和社会保障局", "云南省职业技能鉴定中心", "企业职业技能等级认定机构", "黑龙江省人社厅")
GRADE_WEIGHTS = {  # share of workers holding each grade (blank = no certified grade)
    "": 30,
    "学徒工": 6,
    "初级工": 18,
    "中级工": 20,
    "高级工": 15,
    "技师": 7,
    "高级技师": 3,
    "特级技师": 0.6,
    "首席技师": 0.4,
}
GROUP_WEIGHTS = {"": 40, "农民工": 30, "技术工人": 12, "劳务派遣用工": 6, "新就业形态劳动者": 5, "青年工人": 7}
OWNERSHIP_WEIGHTS = {
    "私营企业": 55,
    "国有企业": 8,
    "集体企业": 3,
    "有限责任公司": 20,
    "港澳台商投资企业": 3,
    "外商投资企业": 4,
    "个体工商户": 7,
}
ENTERPRISE_HEADER = ["统一社会信用代码", "单位名称", "法定代表人", "行业代码", "行政区划代码", "登记注册类型",
                     "职工人数", "是否建立工会", "是否签订集体合同", "统计年度", "职工工资总额(元)",
                     "职工教育经费提取额(元)", "一线职工教育培训经费支出(元)"]  # fmt: skip
WORKER_HEADER = ["姓名", "公民身份号码", "性别", "用人单位统一社会信用代码", "行政区划代码", "行业代码",
                 "技能等级", "人员类别", "是否一线职工", "联系电话", "统计年度", "工匠称号", "获评年份"]  # fmt: skip
REFERENCE_YEAR = 2025
CRAFTSMAN_RATES = {"大国工匠": 0.5 / 1000, "省级工匠": 1.5 / 1000, "市级工匠": 8 / 1000}  # per worker
TRAINING_HEADER = ["姓名", "身份证号", "培训项目", "培训学时", "开始日期", "培训机构"]
CERTIFICATION_HEADER = ["姓名", "公民身份号码", "职业编码", "职业名称", "技能等级", "发证日期", "发证机构"]
WAGE_HEADER = ["职业编码", "职业名称", "技能等级", "行政区划代码", "年份", "月平均工资(元)", "人数"]
SURVEY_HEADER = ["问卷编号", "调查年份", "行政区划代码", "人员类别", "设计权重", "月收入(元)", "是否参加过培训",
                 "满意度", "是否签订书面劳动合同"]  # fmt: skip


def ric_check(body17: str) -> str:
    """GB 11643 check character of the first 17 digits."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, RIC_WEIGHTS, strict=True)) % 11]


def uscc_check(body17: str) -> str:
    """GB 32100 check character of the first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


@dataclass(frozen=True)
class World:
    """What the files are drawn from: the seeds plus address codes valid in every birth year."""

    regions: tuple[str, ...]  # current prefecture and county codes of Yunnan and Heilongjiang
    divisions: tuple[str, ...]
    division_weights: tuple[float, ...]
    birthplaces: tuple[str, ...]  # ID address codes python-stdnum accepts for any birth year


def load_world(seeds_dir: Path = SEEDS_DIR) -> World:
    regions = tuple(
        r["region_code"]
        for r in read_seed("regions", seeds_dir)
        if not r["valid_to"] and r["level"] in ("prefecture", "county") and r["region_code"][:2] in ("53", "23")
    )
    divisions = tuple(r["industry_code"] for r in read_seed("industries", seeds_dir) if r["level"] == "division")
    weights = tuple(6.0 if 13 <= int(d) <= 43 else 2.0 if 44 <= int(d) <= 50 else 0.5 for d in divisions)
    birthplaces = tuple(
        sorted(
            {
                code
                for code, first, last in ric_address_codes()
                if code[:2] in ("53", "23", "51", "52", "41") and code[2:] != "0000" and first is None and last is None
            }
        )
    )
    return World(regions, divisions, weights, birthplaces)


def person(rng: random.Random, world: World) -> tuple[str, str]:
    """A (name, resident ID number) pair."""
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    birthplace, year = rng.choice(world.birthplaces), rng.randint(1965, 2006)
    body = f"{birthplace}{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return name, body + ric_check(body)


def credit_code(rng: random.Random, world: World) -> str:
    body = "91" + rng.choice(world.regions) + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check(body)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _date(rng: random.Random, first_year: int, last_year: int) -> str:
    year, month, day = rng.randint(first_year, last_year), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice((f"{year}-{month:02d}-{day:02d}", f"{year}/{month}/{day}", f"{year}年{month}月{day}日"))


def _flag(rng: random.Random, share: float) -> str:
    yes = rng.random() < share
    return rng.choice((("是", "否"), ("Y", "N"), ("1", "0"), ("true", "false")))[0 if yes else 1]


def _year_cell(rng: random.Random, year: int) -> str:
    """A reference year as clerks type it."""
    return rng.choices((f"{year}", f"{year}年", f"{year}年度"), weights=(8, 1, 1))[0]


def _yuan(rng: random.Random, amount: float) -> str:
    """An amount in yuan as typed: 1234567, 1,234,567 or 123.46万."""
    style = rng.random()
    if style < 0.2:
        return f"{amount:,.0f}"
    if style < 0.3:
        return f"{amount / 10_000:.2f}万"
    return f"{amount:.0f}"


def education_funds(rng: random.Random, headcount: int) -> tuple[float, float, float]:
    """(payroll, staff education fund, its frontline part) in whole yuan for one enterprise in a year."""
    payroll = round(headcount * rng.randint(4_000, 9_000) * 12)
    fund = round(payroll * rng.uniform(0.01, 0.08))
    return payroll, fund, round(fund * rng.uniform(0.40, 0.95))


class CraftsmanTitles:
    """Hands out the rare craftsman titles so that n workers hold about n × rate of each.

    Every worker adds a random amount with mean ``rate`` to an accumulator per title, started at one
    half, and the worker whose addition carries it past 1 gets the title (one title at most; another
    one due waits for the next worker). Unlike an independent draw per worker, 2,000 workers always
    hold about 1, 3 and 16 titles - never none of a title with n × rate ≥ 0.5 - at random positions.
    Share one object between the parts of a file set to count them as one population.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.level = dict.fromkeys(CRAFTSMAN_RATES, 0.5)

    def draw(self, reference_year: int) -> tuple[str, str]:
        """(title, year of the title) of the next worker; mostly ("", "")."""
        chosen = ""
        for title, rate in CRAFTSMAN_RATES.items():
            self.level[title] += 2 * rate * self.rng.random()
            if not chosen and self.level[title] >= 1:
                self.level[title] -= 1
                chosen = title
        return (chosen, str(self.rng.randint(2016, reference_year))) if chosen else ("", "")


def _corrupt_id(rng: random.Random, id_number: str) -> str:
    if rng.random() < 0.5:  # a mistyped check digit
        return id_number[:-1] + rng.choice([c for c in "0123456789X" if c != id_number[-1]])
    return id_number[:-1]  # a digit lost


def _corrupt_credit(rng: random.Random, code: str) -> str:
    if rng.random() < 0.5:
        return code[:-1] + rng.choice([c for c in USCC_ALPHABET if c != code[-1]])
    return code[:8] + "O" + code[9:]  # the letter O where a zero belongs


class _Writer:
    """A CSV file in a given encoding, written row by row (CRLF, as Excel writes it)."""

    def __init__(self, path: Path, encoding: str, header: list[str], title: str | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = path.open("w", encoding=encoding, newline="")
        self.writer = csv.writer(self.handle, lineterminator="\r\n")
        if title:
            self.writer.writerow([title])
        self.writer.writerow(header)

    def row(self, cells: list[object]) -> None:
        self.writer.writerow(cells)

    def close(self) -> None:
        self.handle.close()


def write_enterprises(
    path: Path,
    rows: int,
    rng: random.Random,
    world: World,
    encoding: str = "utf-8-sig",
    reference_year: int = REFERENCE_YEAR,
    extra: random.Random | None = None,
) -> list[tuple[str, str, str]]:
    """The roster; returns (credit code, region, division) of each valid enterprise for the other files.

    ``extra`` draws the reference year and the education-fund columns: a stream of its own, so that the
    other columns are the ones the roster had before these columns were added.
    """
    extra = extra or random.Random(f"enterprises-{reference_year}")
    out = _Writer(path, encoding, ENTERPRISE_HEADER)
    enterprises: list[tuple[str, str, str]] = []
    previous: list[object] | None = None
    for index in range(rows):
        code, region = credit_code(rng, world), rng.choice(world.regions)
        division = rng.choices(world.divisions, weights=world.division_weights)[0]
        headcount = max(1, int(rng.lognormvariate(4.0, 1.2)))
        cells: list[object] = [
            code,
            f"{rng.choice(('丽江', '玉龙', '哈尔滨', '昆明', '大庆'))}{rng.choice(GIVEN)}{rng.choice(GIVEN)}"
            f"{rng.choice(('机械', '建材', '电力', '物流', '食品', '化工', '建筑'))}有限公司",
            person(rng, world)[0],
            division if rng.random() < 0.9 else f"{division}{rng.randint(1, 9)}{rng.randint(1, 9)}",
            region,
            _pick(rng, OWNERSHIP_WEIGHTS),
            f"{headcount:,}" if headcount >= 1000 and rng.random() < 0.5 else headcount,
            _flag(rng, 0.7),
            _flag(rng, 0.5),
        ]
        payroll, fund, frontline = education_funds(extra, headcount)
        blanks = extra.random()  # about 1 in 6 rosters leave some of the amounts blank
        cells += [
            _year_cell(extra, reference_year),
            "" if blanks < 0.06 else _yuan(extra, payroll),
            "" if blanks < 0.12 else _yuan(extra, fund),
            "" if blanks < 0.18 else _yuan(extra, frontline),
        ]
        valid = True
        if rng.random() < INVALID_SHARE * 3 and index > 0:
            where = {0: "credit", 3: "industry", 4: "region", 6: "negative", 7: "flag"}
            cells, valid = _spoil(rng, cells, where), False
        elif extra.random() < INVALID_SHARE * 2 and index > 0:
            if extra.random() < 0.5:
                cells[9] = extra.choice(("2015", "2040", "二〇二五"))  # bad_year
            else:
                cells[11], cells[12] = f"{fund:.0f}", f"{fund * 1.25 + 100:.0f}"  # part_exceeds_whole
            valid = False
        if valid:
            enterprises.append((code, region, division))
        out.row(cells)
        if previous is not None and rng.random() < INVALID_SHARE:
            out.row(previous)  # the same enterprise twice
        previous = cells
    out.close()
    return enterprises


def _spoil(rng: random.Random, cells: list[object], where: dict[int, str]) -> list[object]:
    """One realistic mistake in one cell."""
    cells = list(cells)
    index, what = rng.choice(sorted(where.items()))
    value = str(cells[index])
    cells[index] = {
        "credit": lambda: _corrupt_credit(rng, value),
        "id": lambda: _corrupt_id(rng, value),
        "industry": lambda: rng.choice(("99", "98", "3X")),
        "region": lambda: rng.choice(("533221", "539999", "5307")),
        "grade": lambda: rng.choice(("九级工", "高级技工", "大师")),
        "negative": lambda: f"-{rng.randint(1, 80)}",
        "flag": lambda: rng.choice(("maybe", "不详", "?")),
        "date": lambda: rng.choice(("2025-02-30", "2025-13-01", "下月", "2099-01-01")),
        "weight": lambda: rng.choice(("0", "-1.5", "")),
        "satisfaction": lambda: rng.choice(("7", "0", "很好")),
        "year": lambda: rng.choice(("2015", "二〇二四", "2040")),
    }[what]()
    return cells


def iter_workers(
    rows: int,
    seed: int,
    world: World,
    enterprises: list[tuple[str, str, str]],
    reference_year: int = REFERENCE_YEAR,
    titles: CraftsmanTitles | None = None,
) -> Iterator[tuple[list[object], bool]]:
    """(cells, valid) for ``rows`` worker records, streamed."""
    rng = random.Random(seed)
    extra = random.Random(f"workers-{seed}")  # the reference year and its mistakes
    titles = titles or CraftsmanTitles(random.Random(f"titles-{seed}"))
    previous: list[object] | None = None
    for index in range(rows):
        name, id_number = person(rng, world)
        employer, region, division = rng.choice(enterprises)
        cells: list[object] = [
            name,
            id_number if rng.random() < 0.97 else id_number.lower() if id_number.endswith("X") else id_number,
            "男" if int(id_number[16]) % 2 else "女",
            employer,
            region,
            division,
            _pick(rng, GRADE_WEIGHTS),
            _pick(rng, GROUP_WEIGHTS),
            _flag(rng, 0.65),
            f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}",
            _year_cell(extra, reference_year),
            *titles.draw(reference_year),
        ]
        valid = True
        if rng.random() < INVALID_SHARE and index > 0:
            where = {1: "id", 3: "credit", 4: "region", 5: "industry", 6: "grade", 8: "flag"}
            cells, valid = _spoil(rng, cells, where), False
        elif extra.random() < INVALID_SHARE / 2 and index > 0:
            mistake = extra.choice(("reference_year", "title", "title_year"))
            if mistake == "reference_year":
                cells[10] = extra.choice(("2015", "2040", "今年"))  # bad_year
            elif mistake == "title":
                cells[11], cells[12] = extra.choice(("县级工匠", "劳动模范", "优秀员工")), "2024"  # unknown_title
            else:
                cells[11], cells[12] = "市级工匠", extra.choice(("2099", "去年"))  # bad_year
            valid = False
        yield cells, valid
        if previous is not None and rng.random() < INVALID_SHARE / 2:
            yield previous, False  # the same worker twice
        previous = cells


def write_workers(
    path: Path,
    rows: int,
    seed: int = 20251,
    encoding: str = "utf-8",
    world: World | None = None,
    enterprises: list[tuple[str, str, str]] | None = None,
    people: list[tuple[str, str]] | None = None,
    reference_year: int = REFERENCE_YEAR,
    titles: CraftsmanTitles | None = None,
) -> int:
    """Stream ``rows`` worker records (plus a few repeated rows) to ``path``; returns the rows written.

    ``people``, when given, collects (name, ID number) of the valid records for the trainings and
    certifications files; leave it out for large files.
    """
    world = world or load_world()
    if not enterprises:
        rng = random.Random(seed + 1)
        enterprises = [(credit_code(rng, world), rng.choice(world.regions), "33") for _ in range(500)]
    out = _Writer(path, encoding, WORKER_HEADER)
    written = 0
    for cells, valid in iter_workers(rows, seed, world, enterprises, reference_year, titles):
        out.row(cells)
        written += 1
        if valid and people is not None and len(people) < PEOPLE_SAMPLE:
            people.append((str(cells[0]), str(cells[1]).upper()))
    out.close()
    return written


def write_trainings(path: Path, rows: int, rng: random.Random, people: list[tuple[str, str]], encoding: str) -> None:
    out = _Writer(path, encoding, TRAINING_HEADER)
    for index in range(rows):
        name, id_number = rng.choice(people)
        cells: list[object] = [
            name,
            id_number,
            rng.choice(COURSES),
            rng.choice((8, 16, 24, 40, 56, 80, 120)),
            _date(rng, 2022, 2025),
            rng.choice(PROVIDERS),
        ]
        if rng.random() < INVALID_SHARE * 2 and index > 0:
            cells = _spoil(rng, cells, {1: "id", 3: "negative", 4: "date"})
        out.row(cells)
    out.close()


def write_certifications(
    path: Path, rows: int, rng: random.Random, people: list[tuple[str, str]], encoding: str
) -> None:
    out = _Writer(path, encoding, CERTIFICATION_HEADER, title="技能等级认定证书核发名册")
    grades = [g for g in GRADE_WEIGHTS if g]
    for index in range(rows):
        name, id_number = rng.choice(people)
        occupation = rng.choice(OCCUPATIONS)
        cells: list[object] = [
            name,
            id_number,
            occupation[0],
            occupation[1],
            rng.choices(grades, weights=[GRADE_WEIGHTS[g] for g in grades])[0],
            _date(rng, 2019, 2025),
            rng.choice(ISSUERS),
        ]
        if rng.random() < INVALID_SHARE * 2 and index > 0:
            cells = _spoil(rng, cells, {1: "id", 4: "grade", 5: "date"})
        out.row(cells)
    out.close()


def write_wages(path: Path, rng: random.Random, world: World, encoding: str) -> None:
    out = _Writer(path, encoding, WAGE_HEADER, title="分职业分技能等级工资价位表")
    grades = ["学徒工", "初级工", "中级工", "高级工", "技师", "高级技师"]
    regions = [r for r in world.regions if r.endswith("00")][:6]
    for year in (2023, 2024):
        for region in regions:
            for code, name in OCCUPATIONS:
                base = rng.randint(3200, 4800)
                for step, grade in enumerate(grades):
                    cells: list[object] = [
                        code,
                        name,
                        grade,
                        region,
                        year,
                        f"{base * (1 + 0.18 * step) * (1.04 if year == 2024 else 1):,.0f}",
                        rng.randint(3, 400),
                    ]
                    if rng.random() < INVALID_SHARE * 2:
                        cells = _spoil(rng, cells, {2: "grade", 3: "region", 4: "year", 5: "negative"})
                    out.row(cells)
    out.close()


def write_survey(path: Path, rows: int, rng: random.Random, world: World, encoding: str) -> None:
    """A stratified sample: design weight = workers in the stratum / respondents in the stratum."""
    out = _Writer(path, encoding, SURVEY_HEADER)
    strata = [(region, group) for region in world.regions[:8] for group in ("农民工", "技术工人", "青年工人", "")]
    population = {stratum: rng.randint(2_000, 60_000) for stratum in strata}
    sampled = {stratum: max(1, rows // len(strata)) for stratum in strata}
    labels = ("非常不满意", "不满意", "一般", "满意", "非常满意")
    for index in range(rows):
        stratum = strata[index % len(strata)]
        satisfaction = rng.choices(range(1, 6), weights=(4, 10, 30, 40, 16))[0]
        cells: list[object] = [
            person(rng, world)[1] if rng.random() < 0.05 else f"Q2025-{index + 1:06d}",
            2025,
            stratum[0],
            stratum[1],
            f"{population[stratum] / sampled[stratum]:.2f}",
            rng.choice(("", f"{rng.randint(2500, 12000)}")) if rng.random() < 0.1 else rng.randint(2500, 12000),
            _flag(rng, 0.55),
            labels[satisfaction - 1] if rng.random() < 0.3 else satisfaction,
            _flag(rng, 0.8),
        ]
        if rng.random() < INVALID_SHARE * 2 and index > 0:
            cells = _spoil(rng, cells, {2: "region", 4: "weight", 7: "satisfaction", 6: "flag"})
        out.row(cells)
    out.close()


def generate_microdata(
    out_dir: Path, scale: str = "small", seed: int = 20251, seeds_dir: Path = SEEDS_DIR
) -> list[Path]:
    """Write one file per kind (workers in two parts) under ``out_dir/<kind>/``; returns the files."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    sizes = SCALES[scale]
    rng = random.Random(seed)
    world = load_world(seeds_dir)
    files = {
        "enterprises": out_dir / "enterprises" / "enterprises_2025.csv",
        "workers1": out_dir / "workers" / "workers_2025_part1.csv",
        "workers2": out_dir / "workers" / "workers_2025_part2.csv",
        "trainings": out_dir / "trainings" / "trainings_2025.csv",
        "certifications": out_dir / "certifications" / "certifications_2025.csv",
        "wages": out_dir / "wages" / "wages_2023_2024.csv",
        "survey_responses": out_dir / "survey_responses" / "survey_responses_2025.csv",
    }
    enterprises = write_enterprises(
        files["enterprises"], sizes["enterprises"], rng, world, "utf-8-sig", extra=random.Random(seed + 21)
    )
    half = sizes["workers"] // 2
    people: list[tuple[str, str]] = []
    titles = CraftsmanTitles(random.Random(seed + 13))  # the two parts are one population of workers
    write_workers(files["workers1"], half, seed + 11, "gb18030", world, enterprises, people, titles=titles)
    write_workers(
        files["workers2"], sizes["workers"] - half, seed + 12, "utf-8", world, enterprises, people, titles=titles
    )
    write_trainings(files["trainings"], sizes["trainings"], rng, people, "utf-8")
    write_certifications(files["certifications"], sizes["certifications"], rng, people, "gb18030")
    write_wages(files["wages"], rng, world, "utf-8-sig")
    write_survey(files["survey_responses"], sizes["survey"], rng, world, "utf-8")
    return list(files.values())
