"""Checks the reference seeds against the source documents in /work/shared/seeds.

The expected targets below were typed by hand from the documents, section by section;
they are deliberately NOT generated from targets.csv. Plain Python + csv, no dbt needed.
"""

import csv
import re
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "reference"
DOCS = Path("/work/shared/seeds")

LJ, YN, HLJ, CN = "530700", "530000", "230000", "000000"
D0 = "000_e99ee91a4b6423bc.txt"  # national opinion 2024 (scrape)
D1 = "001_bd421a37b0aab61e.txt"  # Lijiang 14th five-year plan
D2 = "002_5b97c148db488248.txt"  # national opinion, clean second half
D3 = "003_03cbcd3f59cb989a.txt"  # Heilongjiang 2017
D4 = "004_7e8b79a34d2d783b.txt"  # ministry notice 2021 (no quantitative targets)
M = "MASKED"  # value hidden in the document: must be empty with status masked
REL = "RELATIVE"  # relative target without a number (compare with previous term)


def load(name):
    with open(SEEDS / f"{name}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# (document, section, indicator_code, region, comparator, value, unit, deadline, recurrence[, high])
# value: number in the base unit (万/亿 applied), M for masked, REL for relative.
EXPECTED = [
    # ---- 001 Lijiang, 一(三) 目标任务 (到2025年) ----
    (D1, "一(三)目标任务", "national_model_workers_new", LJ, ">=", 1, "名", 2025, ""),
    (D1, "一(三)目标任务", "national_may_day_medals_new", LJ, ">=", 2, "名", 2025, ""),
    (D1, "一(三)目标任务", "provincial_model_workers_new", LJ, ">=", 4, "名", 2025, ""),
    (D1, "一(三)目标任务", "higher_vocational_students_increase", LJ, ">=", M, "人", 2025, ""),  # 0.*人以上
    (D1, "一(三)目标任务", "vocational_school_new_enrolment", LJ, ">=", M, "人", 2025, ""),  # (略)校 0.*人以上
    (D1, "一(三)目标任务", "vocational_training_person_times", LJ, ">=", M, "人次", 2025, ""),  # *人次以上
    (D1, "一(三)目标任务", "skill_talents_total", LJ, ">=", M, "人", 2025, ""),  # 6.*人以上
    (D1, "一(三)目标任务", "high_skill_talents_new", LJ, ">=", M, "人", 2025, ""),  # 0.*人
    (D1, "一(三)目标任务", "reform_demonstration_sites", LJ, ">=", 20, "个", 2025, ""),
    (D1, "一(三)目标任务", "city_craftsmen_selected", LJ, ">=", 12, "名", 2025, ""),  # 丽江工匠
    (D1, "一(三)目标任务", "xingli_technicians_selected", LJ, ">=", 30, "名", 2025, ""),
    (D1, "一(三)目标任务", "local_model_workers_new", LJ, ">=", 40, "名", 2025, ""),
    (D1, "一(三)目标任务", "local_may_day_labour_awards_new", LJ, ">=", 40, "个", 2025, ""),  # 奖状
    (D1, "一(三)目标任务", "local_may_day_medals_new", LJ, ">=", 100, "名", 2025, ""),  # 奖章
    (D1, "一(三)目标任务", "local_worker_pioneer_titles_new", LJ, ">=", 20, "个", 2025, ""),
    # ---- 001 专栏一 思想引领 ----
    (D1, "专栏一", "new_party_members_workers", LJ, ">=", 480, "名", 2025, ""),
    (D1, "专栏一", "nonpublic_party_org_coverage_rate", LJ, ">=", 70, "%", 2025, ""),
    (D1, "专栏一", "staff_libraries_graded_new", LJ, ">=", M, "个", 2025, ""),  # 建(略)级职工书屋
    (D1, "专栏一", "mobile_staff_libraries_new", LJ, ">=", 6, "个", 2025, ""),
    (D1, "专栏一", "e_staff_libraries_new", LJ, ">=", 4, "个", 2025, ""),
    (D1, "专栏一", "union_self_built_staff_libraries_new", LJ, ">=", 11, "个", 2025, ""),
    (D1, "专栏一", "learning_platform_enterprise_union_usage_rate", LJ, ">=", 70, "%", 2025, ""),
    (D1, "专栏一", "learning_platform_member_usage_rate", LJ, ">=", 70, "%", 2025, ""),
    (D1, "专栏一", "migrant_worker_legal_service_events", LJ, ">=", 16, "场次", None, "annual"),
    (D1, "专栏一", "migrant_worker_legal_service_beneficiaries", LJ, ">=", M, "人次", None, "annual"),  # 2.*人次
    (D1, "专栏一", "model_worker_talks", LJ, ">=", 22, "场次", 2025, ""),
    (D1, "专栏一", "worker_profile_publicity_person_times", LJ, ">=", 4500, "人次", 2025, ""),
    (D1, "专栏一", "union_social_workers", LJ, ">=", 40, "人", 2025, ""),
    (D1, "专栏一", "union_coverage_rate_100plus", LJ, ">=", 100, "%", 2025, ""),  # 动态全覆盖
    # ---- 001 专栏二 权益维护和地位提高 ----
    (D1, "专栏二", "industrial_worker_representation_share", LJ, ">=", REL, "%", None, ""),  # 不低于上一届
    (D1, "专栏二", "soe_workers_congress_rate", LJ, ">=", 95, "%", 2025, ""),
    (D1, "专栏二", "soe_factory_affairs_disclosure_rate", LJ, ">=", 95, "%", 2025, ""),
    (D1, "专栏二", "nonpublic_unionized_workers_congress_rate", LJ, ">=", 80, "%", 2025, ""),
    (D1, "专栏二", "nonpublic_unionized_factory_affairs_disclosure_rate", LJ, ">=", 80, "%", 2025, ""),
    (D1, "专栏二", "enterprises_legal_checkup", LJ, ">=", 51, "家", 2025, ""),
    (D1, "专栏二", "cb_coverage_rate_unionized_100plus", LJ, ">=", 90, "%", 2025, ""),
    (D1, "专栏二", "cb_quality_80plus_share", LJ, ">=", 80, "%", 2025, ""),
    (D1, "专栏二", "collective_bargaining_coverage_rate", LJ, ">=", 80, "%", None, "annual"),  # 动态保持
    (D1, "专栏二", "collective_contract_signing_rate_100plus", LJ, ">=", 80, "%", 2025, ""),
    (D1, "专栏二", "cb_awareness_rate", LJ, ">=", 90, "%", 2025, ""),
    (D1, "专栏二", "cb_satisfaction_rate", LJ, ">=", 80, "%", 2025, ""),
    (D1, "专栏二", "harmonious_labour_relations_enterprises_new", LJ, ">=", M, "家", 2025, ""),  # 不(略)级
    (D1, "专栏二", "labour_inspection_case_closure_rate", LJ, ">=", 100, "%", 2025, ""),
    (D1, "专栏二", "ankang_cup_participants", LJ, ">=", M, "人次", 2025, ""),  # 3.*人次
    (D1, "专栏二", "healthy_enterprises", LJ, ">=", 5, "家", 2025, ""),
    # ---- 001 专栏三 建功立业 ----
    (D1, "专栏三", "provincial_labour_contests_joined", LJ, ">=", 2, "场次", 2025, ""),
    (D1, "专栏三", "local_labour_contests_held", LJ, ">=", 4, "场次", 2025, ""),
    (D1, "专栏三", "labour_contest_participants", LJ, ">=", M, "人", 2025, ""),  # 1.*人
    (D1, "专栏三", "skills_contest_industries", LJ, ">=", 2, "个", None, "biennial"),
    (D1, "专栏三", "skills_contest_occupations", LJ, ">=", 8, "个", None, "biennial"),
    (D1, "专栏三", "technical_champions_new", LJ, ">=", 5, "名", 2025, ""),
    (D1, "专栏三", "technical_experts_new", LJ, ">=", 10, "名", 2025, ""),
    (D1, "专栏三", "innovation_studios_city_level", LJ, ">=", 16, "家", 2025, ""),
    # ---- 001 专栏四 素质提升 ----
    (D1, "专栏四", "vocational_school_new_enrolment", LJ, ">=", M, "人", 2025, ""),  # *人以上
    (D1, "专栏四", "apprenticeship_vocational_schools", LJ, ">=", 3, "所", 2025, ""),
    (D1, "专栏四", "apprenticeship_new_majors", LJ, ">=", 11, "个", 2025, ""),
    (D1, "专栏四", "apprenticeship_share_of_students", LJ, "~", 10, "%", 2025, ""),
    (D1, "专栏四", "enterprise_new_apprentices", LJ, ">=", 2270, "人", 2025, ""),
    (D1, "专栏四", "public_training_bases_local", LJ, ">=", M, "个", 2025, ""),  # 力(略)级
    (D1, "专栏四", "public_training_bases_county", LJ, ">=", 1, "个", 2025, ""),
    (D1, "专栏四", "skills_contest_training_bases", LJ, "between", 1, "个", 2025, "", 2),
    (D1, "专栏四", "vocational_training_person_times", LJ, ">=", M, "人次", 2025, ""),  # 7.*人次
    (D1, "专栏四", "skill_talents_total", LJ, ">=", M, "人", 2025, ""),  # 7.*人以上
    (D1, "专栏四", "high_skill_talents_new", LJ, ">=", 516, "人", 2025, ""),
    # ---- 001 专栏五 队伍壮大 ----
    (D1, "专栏五", "urban_new_jobs", LJ, ">=", 8500, "人", 2025, ""),
    (D1, "专栏五", "startup_loan_supported_businesses", LJ, ">=", 2345, "户", 2025, ""),
    (D1, "专栏五", "startup_loan_amount", LJ, ">=", 350_000_000, "元", 2025, ""),  # 3.5亿元
    (D1, "专栏五", "migrant_workers_trained", LJ, ">=", M, "人", 2025, ""),  # 3.*人
    (D1, "专栏五", "county_worker_service_centres", LJ, ">=", 2, "个", 2025, ""),
    (D1, "专栏五", "worker_service_stations", LJ, ">=", 20, "个", 2025, ""),
    (D1, "专栏五", "party_union_joint_demo_sites", LJ, ">=", 30, "个", 2025, ""),
    (D1, "专栏五", "workers_home_demo_sites", LJ, ">=", 15, "个", 2025, ""),
    (D1, "专栏五", "happy_life_enterprise_demo_sites", LJ, ">=", 5, "个", 2025, ""),
    (D1, "专栏五", "worker_benefit_projects", LJ, ">=", 2, "个", 2025, ""),
    (D1, "专栏五", "warmth_fund_raised", LJ, ">=", M, "元", 2025, ""),
    (D1, "专栏五", "workers_visited_person_times", LJ, ">=", M, "人次", 2025, ""),
    (D1, "专栏五", "medical_mutual_aid_participation_rate", LJ, ">=", 95, "%", 2025, ""),
    # ---- 001 numeric rules inside the measures ----
    (D1, "二(二)4", "union_govt_joint_meetings", LJ, ">=", 1, "次", None, "annual"),
    (D1, "二(四)3", "staff_education_fund_payroll_share", LJ, "=", 8, "%", None, "annual"),
    # ---- 000 national opinion 2024 ----
    (D0, "一、总体要求(主要目标)", "great_craftsmen_total", CN, "~", 2000, "名", 2035, ""),
    (D0, "一、总体要求(主要目标)", "provincial_craftsmen_total", CN, "~", 10000, "名", 2035, ""),
    (D0, "一、总体要求(主要目标)", "city_craftsmen_total", CN, "~", 50000, "名", 2035, ""),
    (D0, "(十)", "staff_education_fund_frontline_share", CN, ">=", 60, "%", None, "annual"),
    # ---- 003 Heilongjiang 2017 ----
    (D3, "4.", "union_govt_joint_meetings", HLJ, ">=", 1, "次", None, "annual"),
    (D3, "7.", "staff_education_fund_payroll_share", HLJ, "between", 1.5, "%", None, "annual", 2.5),
    (D3, "7.", "staff_education_fund_frontline_share", HLJ, ">=", 60, "%", None, "annual"),
    (D3, "9.", "training_subsidy_cap_technician", HLJ, "<=", 3000, "元", None, ""),
    (D3, "9.", "training_subsidy_cap_senior_technician", HLJ, "<=", 2000, "元", None, ""),
    (D3, "9.", "training_subsidy_cap_senior_technician_upskilling", HLJ, "<=", 1500, "元", None, ""),
    (D3, "9.", "priority_training_groups", HLJ, "=", 9, "类", None, ""),
    (D3, "9.", "special_skills_training_programmes", HLJ, "=", 8, "个", None, ""),
    (D3, "9.", "high_skill_training_bases", HLJ, ">=", 100, "个", 2020, ""),
    (D3, "9.", "skill_master_studios", HLJ, ">=", 100, "个", 2020, ""),
    (D3, "9.", "vocational_training_person_times", HLJ, ">=", 3_000_000, "人次", 2020, ""),  # 300万人次
    (D3, "12.", "retention_subsidy_cap_share_of_ui_contributions", HLJ, "<=", 50, "%", None, ""),
    (D3, "12.", "retention_subsidy_rate_of_pay_cut", HLJ, "=", 50, "%", None, ""),
    (D3, "19.", "longjiang_master_craftsmen_selected", HLJ, "=", 20, "名", None, "biennial"),
    (D3, "19.", "longjiang_technical_experts_selected", HLJ, "=", 100, "名", None, "biennial"),
    (D3, "19.", "reward_longjiang_master_craftsman", HLJ, "=", 30000, "元", None, ""),
    (D3, "19.", "reward_longjiang_technical_expert", HLJ, "=", 10000, "元", None, ""),
    (D3, "19.", "reward_china_skills_award", HLJ, "=", 200000, "元", None, ""),
    (D3, "19.", "reward_national_technical_expert", HLJ, "=", 100000, "元", None, ""),
    (D3, "19.", "chief_technicians_selected", HLJ, "=", 50, "名", None, "biennial"),
    (D3, "19.", "allowance_chief_technician", HLJ, "=", 20000, "元", None, ""),
    (D3, "21.", "national_contest_provincial_training_bases", HLJ, "between", 3, "所", None, "", 5),
    (D3, "21.", "reward_worldskills_gold", HLJ, "=", 100000, "元", None, ""),
    (D3, "21.", "reward_worldskills_silver", HLJ, "=", 50000, "元", None, ""),
    (D3, "21.", "reward_worldskills_bronze", HLJ, "=", 20000, "元", None, ""),
    (D3, "21.", "reward_national_class1_contest_first", HLJ, "=", 50000, "元", None, ""),
    (D3, "21.", "reward_national_class1_contest_second", HLJ, "=", 30000, "元", None, ""),
    (D3, "21.", "reward_national_class1_contest_third", HLJ, "=", 10000, "元", None, ""),
    (D3, "21.", "provincial_class1_contest_events", HLJ, "=", 50, "个", None, "annual"),
    (D3, "21.", "reward_provincial_class1_contest_first", HLJ, "=", 10000, "元", None, ""),
    (D3, "21.", "reward_provincial_class1_contest_second", HLJ, "=", 5000, "元", None, ""),
    (D3, "21.", "reward_provincial_class1_contest_third", HLJ, "=", 3000, "元", None, ""),
]

# Statements of the same target with different values (typed from the documents).
EXPECTED_CONFLICTS = [
    # skill talents total: 一(三) 6.*人以上 vs 专栏四 7.*人以上
    {(D1, "一(三)目标任务", "skill_talents_total"), (D1, "专栏四", "skill_talents_total")},
    # new high-skill talents: 一(三) 0.*人 vs 专栏四 516人以上
    {(D1, "一(三)目标任务", "high_skill_talents_new"), (D1, "专栏四", "high_skill_talents_new")},
]

ALLOWED_UNITS = {"人", "人次", "名", "个", "家", "场次", "户", "元", "%", "所", "分", "项", "件", "次", "类"}


# ----------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def regions():
    return load("regions")


@pytest.fixture(scope="module")
def indicators():
    return {r["indicator_code"]: r for r in load("indicators")}


@pytest.fixture(scope="module")
def targets():
    return load("targets")


@pytest.fixture(scope="module")
def units():
    return {r["unit_code"]: r for r in load("reporting_units")}


@pytest.fixture(scope="module")
def tasks():
    return {r["task_code"]: r for r in load("tasks")}


def _key(row):
    return (row["source_document"], row["source_section"], row["indicator_code"], row["region_code"])


# ----------------------------------------------------------------- files
def test_files_are_utf8_without_bom_and_comma_separated():
    names = sorted(p.name for p in SEEDS.glob("*.csv"))
    assert names == sorted(
        f"{n}.csv"
        for n in [
            "regions",
            "industries",
            "skill_grades",
            "ownership_types",
            "worker_groups",
            "indicators",
            "targets",
            "reporting_units",
            "tasks",
            "task_units",
            "task_indicators",
            "reporting_obligations",
        ]
    )
    for p in SEEDS.glob("*.csv"):
        raw = p.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), p.name
        raw.decode("utf-8")
        with open(p, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert all(len(r) == len(rows[0]) for r in rows), p.name


# ----------------------------------------------------------------- targets vs documents
@pytest.mark.parametrize("exp", EXPECTED, ids=[f"{e[1]}:{e[2]}:{e[3]}" for e in EXPECTED])
def test_expected_target_present_and_correct(exp, targets, indicators):
    doc, section, code, region, comp, value, unit, deadline, recurrence = exp[:9]
    high = exp[9] if len(exp) > 9 else None
    rows = [r for r in targets if _key(r) == (doc, section, code, region)]
    assert len(rows) == 1, f"expected exactly one target for {exp[:4]}, found {len(rows)}"
    r = rows[0]
    assert r["comparator"] == comp
    assert indicators[code]["unit"] == unit
    if value == M:
        assert r["status"] == "masked"
        assert r["target_value"] == ""
    elif value == REL:
        assert r["status"] == "normal"
        assert r["target_value"] == ""
    else:
        assert r["status"] == "normal"
        assert r["target_value"] != "", "value missing"
        assert float(r["target_value"]) == pytest.approx(value)
    if high is not None:
        assert float(r["target_value_high"]) == pytest.approx(high)
    else:
        assert r["target_value_high"] == ""
    assert r["deadline_year"] == ("" if deadline is None else str(deadline))
    assert r["recurrence"] == recurrence


def test_no_unexpected_targets(targets):
    expected = {(e[0], e[1], e[2], e[3]) for e in EXPECTED}
    extra = [_key(r) for r in targets if _key(r) not in expected]
    assert not extra, f"targets.csv holds targets not in the hand-typed list: {extra}"
    assert len(targets) == len(EXPECTED)


def test_quotes_and_value_texts_are_verbatim(targets):
    cache = {}
    for r in targets:
        text = cache.setdefault(r["source_document"], (DOCS / r["source_document"]).read_text(encoding="utf-8"))
        assert r["source_quote"] and r["source_quote"] in text, (r["target_id"], r["source_quote"])
        assert r["value_text"] and r["value_text"] in text, (r["target_id"], r["value_text"])


def test_masked_targets_are_never_guessed(targets):
    for r in targets:
        assert r["status"] in {"normal", "masked"}
        if r["status"] == "masked":
            assert r["target_value"] == "" and r["target_value_high"] == "", r["target_id"]
            assert "*" in r["value_text"] or "(略)" in r["value_text"], r["target_id"]
        elif r["target_value"] == "":
            # only relative targets may be normal without a number
            assert "上一届" in r["value_text"], r["target_id"]
        # no digit that the document masks may appear as a number
        if "*" in r["value_text"]:
            assert r["status"] == "masked", r["target_id"]


def test_ministry_notice_has_no_quantitative_targets(targets):
    assert not [r for r in targets if r["source_document"] == D4]


def test_target_columns_valid(targets, indicators, regions):
    region_codes = {r["region_code"] for r in regions}
    ids = [r["target_id"] for r in targets]
    assert len(ids) == len(set(ids))
    for r in targets:
        assert r["indicator_code"] in indicators, r["target_id"]
        assert r["region_code"] in region_codes, r["target_id"]
        assert r["comparator"] in {">=", "<=", "=", "~", "between"}
        assert r["recurrence"] in {"", "annual", "biennial"}
        assert r["is_conflicting"] in {"true", "false"}
        assert (DOCS / r["source_document"]).exists()
        if r["comparator"] == "between" and r["status"] == "normal":
            assert float(r["target_value"]) < float(r["target_value_high"]), r["target_id"]
        if r["deadline_year"]:
            assert r["recurrence"] == "", r["target_id"]
            assert int(r["deadline_year"]) in {2020, 2025, 2035}
        if indicators[r["indicator_code"]]["unit"] == "%" and r["target_value"]:
            assert 0 <= float(r["target_value"]) <= 100, r["target_id"]


def test_conflict_groups(targets):
    groups = {}
    for r in targets:
        if r["conflict_group"]:
            groups.setdefault(r["conflict_group"], []).append(r)
        if r["is_conflicting"] == "true":
            assert r["conflict_group"], r["target_id"]
    for g, rows in groups.items():
        assert len(rows) >= 2, g
        assert all(r["is_conflicting"] == "true" for r in rows), g
        assert len({(r["indicator_code"], r["region_code"], r["deadline_year"]) for r in rows}) == 1, g
    found = [
        {(r["source_document"], r["source_section"], r["indicator_code"]) for r in rows} for rows in groups.values()
    ]
    for c in EXPECTED_CONFLICTS:
        assert c in found, c
    assert len(found) == len(EXPECTED_CONFLICTS)


def test_lijiang_copies_identical():
    """The plan text appears twice; if the copies ever differed, targets would need both versions."""
    lines = (DOCS / D1).read_text(encoding="utf-8").splitlines()
    starts = [i for i, l in enumerate(lines) if l.startswith("(略) 新时产业工人队*建设改革十四五规划")]
    assert len(starts) == 2
    end2 = next(i for i in range(starts[1], len(lines)) if lines[i].startswith("查看详情"))
    first = [
        l
        for l in lines[starts[0] : starts[1]]
        if l.strip()
        and "公示" not in l
        and "2022年10月14日" not in l
        and not l.startswith(("逾期", "(传真", "意见反馈", "《 (略)"))
    ]
    second = [l for l in lines[starts[1] : end2] if l.strip()]
    assert first == second


# ----------------------------------------------------------------- indicators
def test_indicator_structure(indicators):
    pillars = {
        "ideology": "思想引领",
        "contribution": "建功立业",
        "skills": "素质提升",
        "rights_status": "权益维护和地位提高",
        "growth": "队伍壮大",
    }
    for code, r in indicators.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert pillars[r["pillar_code"]] == r["pillar_zh"], code
        assert r["unit"] in ALLOWED_UNITS, code
        assert r["kind"] in {"count", "cumulative_count", "rate", "amount"}, code
        assert r["aggregation"] in {"sum", "ratio", "none"}, code
        assert r["direction"] in {"higher_is_better", "lower_is_better"}, code
        assert r["periodicity"] in {"annual", "half_year", "quarter", "month"}, code
        for ref in ("numerator_code", "denominator_code", "parent_code"):
            assert r[ref] == "" or r[ref] in indicators, (code, ref, r[ref])
        assert r["parent_code"] != code
        if r["aggregation"] == "ratio":
            assert r["numerator_code"] and r["denominator_code"], code
            assert r["unit"] == "%", code
            num, den = indicators[r["numerator_code"]], indicators[r["denominator_code"]]
            assert num["aggregation"] == "sum" and den["aggregation"] == "sum", code
            assert num["unit"] == den["unit"], code
        else:
            assert r["numerator_code"] == "" and r["denominator_code"] == "", code
        if r["kind"] == "amount":
            assert r["unit"] == "元", code
        if r["parent_code"]:
            assert indicators[r["parent_code"]]["unit"] == r["unit"], code
    # parent chains end (no cycles)
    for code in indicators:
        seen, c = set(), code
        while c:
            assert c not in seen, code
            seen.add(c)
            c = indicators[c]["parent_code"]


def test_base_indicators_and_part_whole_rules(indicators):
    assert indicators["high_skill_talents_total"]["parent_code"] == "skill_talents_total"
    assert indicators["certified_technicians"]["parent_code"] == "certified_workers_total"
    assert indicators["nonpublic_party_org_coverage_rate"]["numerator_code"] == "nonpublic_enterprises_with_party_org"
    assert indicators["nonpublic_party_org_coverage_rate"]["denominator_code"] == "nonpublic_enterprises"
    assert indicators["nonpublic_enterprises_with_party_org"]["parent_code"] == "nonpublic_enterprises"
    for code in [
        "skill_talents_total",
        "high_skill_talents_total",
        "high_skill_talents_new",
        "certified_workers_total",
        "vocational_training_person_times",
        "urban_new_jobs",
        "new_party_members_workers",
        "collective_bargaining_coverage_rate",
    ]:
        assert code in indicators


def test_every_indicator_of_a_target_or_rule_is_used(indicators, targets):
    used = {r["indicator_code"] for r in targets}
    for r in indicators.values():
        used.update({r["numerator_code"], r["denominator_code"], r["parent_code"]})
    base = {
        "high_skill_talents_total",
        "certified_senior_workers",
        "certified_technicians",
        "certified_senior_technicians",
        "skill_certifications_issued",
        "technical_school_students",
        "higher_vocational_students",
    }
    unused = set(indicators) - used - base
    assert not unused, unused


# ----------------------------------------------------------------- regions
def test_regions(regions):
    codes = [r["region_code"] for r in regions]
    assert len(codes) == len(set(codes))
    by = {r["region_code"]: r for r in regions}
    above = {"province": "national", "prefecture": "province", "county": "prefecture"}
    roots = [r for r in regions if r["parent_code"] == ""]
    assert len(roots) == 1 and roots[0]["region_code"] == "000000" and roots[0]["level"] == "national"
    date = re.compile(r"\d{4}-\d{2}-\d{2}")
    for r in regions:
        assert re.fullmatch(r"\d{6}", r["region_code"]), r
        assert r["level"] in {"national", "province", "prefecture", "county"}
        assert date.fullmatch(r["valid_from"]), r
        assert r["valid_to"] == "" or (date.fullmatch(r["valid_to"]) and r["valid_to"] > r["valid_from"]), r
        assert r["source"], r
        if r["level"] != "national":
            p = by.get(r["parent_code"])
            assert p is not None, r
            assert p["level"] == above[r["level"]], r
            if r["valid_to"] == "":
                assert p["valid_to"] == "", r  # a current region has a current parent
            else:
                assert p["valid_to"] == "" or p["valid_to"] >= r["valid_to"], r
    provinces = {r["region_code"] for r in regions if r["level"] == "province"}
    assert provinces == {
        "110000",
        "120000",
        "130000",
        "140000",
        "150000",
        "210000",
        "220000",
        "230000",
        "310000",
        "320000",
        "330000",
        "340000",
        "350000",
        "360000",
        "370000",
        "410000",
        "420000",
        "430000",
        "440000",
        "450000",
        "460000",
        "500000",
        "510000",
        "520000",
        "530000",
        "540000",
        "610000",
        "620000",
        "630000",
        "640000",
        "650000",
        "710000",
        "810000",
        "820000",
    }
    current = {r["region_code"] for r in regions if r["valid_to"] == ""}
    assert {c for c in current if c.startswith("53") and by[c]["level"] == "prefecture"} == {
        "530100",
        "530300",
        "530400",
        "530500",
        "530600",
        "530700",
        "530800",
        "530900",
        "532300",
        "532500",
        "532600",
        "532800",
        "532900",
        "533100",
        "533300",
        "533400",
    }
    assert {c for c in current if c.startswith("23") and by[c]["level"] == "prefecture"} == {
        "230100",
        "230200",
        "230300",
        "230400",
        "230500",
        "230600",
        "230700",
        "230800",
        "230900",
        "231000",
        "231100",
        "231200",
        "232700",
    }
    assert {c for c in current if by[c]["parent_code"] == "530700"} == {
        "530702",
        "530721",
        "530722",
        "530723",
        "530724",
    }
    assert by["533200"]["valid_to"] == "2002-12-26" and by["530700"]["valid_from"] == "2002-12-26"


# ----------------------------------------------------------------- classifications
def test_industries():
    rows = load("industries")
    sections = {r["industry_code"] for r in rows if r["level"] == "section"}
    divisions = [r for r in rows if r["level"] == "division"]
    assert sections == set("ABCDEFGHIJKLMNOPQRST")
    assert len(divisions) == 97
    assert len({r["industry_code"] for r in divisions}) == 97
    for r in rows:
        assert r["source"] == "GB/T 4754-2017"
        assert r["section_code"] in sections
        if r["level"] == "division":
            assert re.fullmatch(r"\d{2}", r["industry_code"])
            assert 1 <= int(r["industry_code"]) <= 97
        else:
            assert r["section_code"] == r["industry_code"]
    sec_of = {r["industry_code"]: r["section_code"] for r in divisions}
    assert sec_of["13"] == sec_of["43"] == "C" and sec_of["06"] == "B" and sec_of["97"] == "T"


def test_skill_grades():
    rows = load("skill_grades")
    assert sorted(int(r["grade_order"]) for r in rows) == list(range(1, 9))
    assert len({r["grade_code"] for r in rows}) == 8
    by = {int(r["grade_order"]): r for r in rows}
    assert [by[i]["name_zh"] for i in range(1, 9)] == [
        "学徒工",
        "初级工",
        "中级工",
        "高级工",
        "技师",
        "高级技师",
        "特级技师",
        "首席技师",
    ]
    for i, r in by.items():
        assert r["is_high_skill"] == ("true" if i >= 4 else "false")
    assert [by[i]["national_vocational_level"] for i in range(1, 9)] == [
        "",
        "五级",
        "四级",
        "三级",
        "二级",
        "一级",
        "",
        "",
    ]


def test_ownership_types_and_worker_groups():
    own = {r["ownership_code"]: r for r in load("ownership_types")}
    assert own["state_owned"]["is_non_public"] == "false"
    assert own["collective"]["is_non_public"] == "false"
    for c in ["private", "hmt_invested", "foreign_invested"]:
        assert own[c]["is_non_public"] == "true"
    groups = {r["group_code"] for r in load("worker_groups")}
    assert {"migrant_workers", "new_employment_forms", "frontline_workers", "youth_workers"} <= groups


# ----------------------------------------------------------------- units, tasks, obligations
def test_reporting_units(units, regions):
    region_codes = {r["region_code"] for r in regions}
    kinds = {
        "party_committee",
        "government",
        "trade_union",
        "mass_organization",
        "people_congress",
        "cppcc",
        "enterprise_association",
        "county_government",
        "other",
    }
    for code, u in units.items():
        assert re.fullmatch(r"\d{6}-[A-Z]+", code), code
        assert u["region_code"] in region_codes and code.startswith(u["region_code"] + "-"), code
        assert u["kind"] in kinds, code
    for c in ["530702", "530721", "530722", "530723", "530724"]:
        assert units[f"{c}-XZF"]["kind"] == "county_government"
        assert units[f"{c}-ZGH"]["kind"] == "trade_union"
    for c in [
        "530700-ZGH",
        "530700-RSJ",
        "530700-XCB",
        "530700-ZZB",
        "530700-JTJ",
        "530700-FGW",
        "530700-GZW",
        "530700-GSL",
        "230000-ZGH",
        "230000-RST",
    ]:
        assert c in units, c
    assert units["530700-LXB"]["name_zh"] == "(略)信办"


def test_tasks_and_task_units(tasks, units):
    assert sorted(tasks) == sorted(
        [
            "lj-2-1-1",
            "lj-2-1-2",
            "lj-2-1-3",
            "lj-2-2-1",
            "lj-2-2-2",
            "lj-2-2-3",
            "lj-2-2-4",
            "lj-2-3-1",
            "lj-2-3-2",
            "lj-2-3-3",
            "lj-2-4-1",
            "lj-2-4-2",
            "lj-2-4-3",
            "lj-2-4-4",
            "lj-2-4-5",
            "lj-2-5-1",
        ]
    )
    leads = {
        "lj-2-1-1": "530700-XCB",
        "lj-2-1-2": "530700-ZZB",
        "lj-2-1-3": "530700-ZGH",
        "lj-2-2-1": "530700-ZZB",
        "lj-2-2-2": "530700-ZGH",
        "lj-2-2-3": "530700-RSJ",
        "lj-2-2-4": "530700-ZGH",
        "lj-2-3-1": "530700-ZGH",
        "lj-2-3-2": "530700-ZGH",
        "lj-2-3-3": "530700-ZGH",
        "lj-2-4-1": "530700-JTJ",
        "lj-2-4-2": "530700-RSJ",
        "lj-2-4-3": "530700-RSJ",
        "lj-2-4-4": "530700-RSJ",
        "lj-2-4-5": "530700-RSJ",
        "lj-2-5-1": "530700-ZGH",
    }
    tu = load("task_units")
    assert len({(r["task_code"], r["unit_code"]) for r in tu}) == len(tu)
    for r in tu:
        assert r["task_code"] in tasks and r["unit_code"] in units, r
        assert r["role"] in {"lead", "responsible"}
    for t, lead in leads.items():
        assert [r["unit_code"] for r in tu if r["task_code"] == t and r["role"] == "lead"] == [lead], t
        counties = {r["unit_code"] for r in tu if r["task_code"] == t and r["unit_code"].endswith("-XZF")}
        assert len(counties) == (0 if t == "lj-2-5-1" else 5), t
    for t in tasks.values():
        assert t["source_document"] == D1


def test_task_indicators(tasks, indicators):
    ti = load("task_indicators")
    assert len({(r["task_code"], r["indicator_code"]) for r in ti}) == len(ti)
    for r in ti:
        assert r["task_code"] in tasks and r["indicator_code"] in indicators, r
        assert indicators[r["indicator_code"]]["pillar_code"] == tasks[r["task_code"]]["pillar_code"], r
    assert {r["task_code"] for r in ti} == set(tasks)
    lijiang_targets = {r["indicator_code"] for r in load("targets") if r["region_code"] == LJ}
    assert lijiang_targets <= {r["indicator_code"] for r in ti}


def test_reporting_obligations(units, indicators):
    due = {"month": 15, "quarter": 15, "half_year": 30, "annual": 60}
    ob = load("reporting_obligations")
    assert len({(r["unit_code"], r["indicator_code"]) for r in ob}) == len(ob)
    for r in ob:
        assert r["unit_code"] in units and r["indicator_code"] in indicators, r
        assert r["periodicity"] in due
        assert int(r["due_days_after_period_end"]) == due[r["periodicity"]]
        assert int(r["first_year"]) <= int(r["last_year"])
        assert indicators[r["indicator_code"]]["aggregation"] != "ratio", r  # ratios come from their parts
        if r["unit_code"].startswith("5307"):
            assert (r["first_year"], r["last_year"]) == ("2021", "2025"), r
    county = [r for r in ob if r["unit_code"].endswith("-XZF")]
    assert {r["unit_code"] for r in county} == {f"{c}-XZF" for c in ["530702", "530721", "530722", "530723", "530724"]}
    for r in county:
        assert (
            indicators[r["indicator_code"]]["aggregation"] == "sum"
            or r["indicator_code"] == "union_govt_joint_meetings"
        )


def test_one_reporting_unit_per_indicator_and_region():
    """Two units owing the same figure for one region would be counted twice in every roll-up."""
    units = {row["unit_code"]: row["region_code"] for row in load("reporting_units")}
    owners: dict[tuple[str, str], list[str]] = {}
    for row in load("reporting_obligations"):
        owners.setdefault((row["indicator_code"], units[row["unit_code"]]), []).append(row["unit_code"])
    assert {key: value for key, value in owners.items() if len(value) > 1} == {}
