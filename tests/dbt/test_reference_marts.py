"""The reference marts in the published warehouse: regions roll up to the nation, the classifications
are complete, targets keep masked numbers unknown, and expected submissions and task leads add up.

The warehouse is built once for the module (generate → ingest → build, about 10 s) in its own
REFORM_HOME and opened read-only.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LIJIANG_COUNTIES = ["530702", "530721", "530722", "530723", "530724"]


def rows(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def columns(con, table: str) -> list[str]:
    return [r[0] for r in rows(con, f"select column_name from (describe marts.{table})")]


# ---- regions ------------------------------------------------------------------------------------


def test_dim_region_keeps_its_columns_and_appends_the_path(con):
    assert columns(con, "dim_region") == [
        "region_code", "parent_code", "level", "level_depth", "name_zh", "name_en", "valid_from", "valid_to",
        "is_current", "source_reference", "path_codes", "province_code", "prefecture_code",
    ]  # fmt: skip


def test_every_ancestor_chain_ends_at_the_national_root(con):
    n_regions = rows(con, "select count(*) from marts.dim_region")[0][0]
    assert n_regions > 70
    # the root is every region's ancestor, exactly level_depth steps up
    reaching_root = rows(
        con,
        """select count(*) from marts.dim_region as r
           join marts.bridge_region_ancestor as b
             on b.region_code = r.region_code and b.ancestor_code = '000000' and b.distance = r.level_depth""",
    )[0][0]
    assert reaching_root == n_regions
    assert rows(con, "select count(*) from marts.dim_region where path_codes[1] <> '000000'") == [(0,)]
    # each region once at distance 0, as itself
    assert rows(
        con, "select count(*) from marts.bridge_region_ancestor where distance = 0 and ancestor_code = region_code"
    ) == [(n_regions,)]


def test_lijiang_counties_roll_up_to_prefecture_province_and_nation(con):
    for county in LIJIANG_COUNTIES:
        chain = rows(
            con,
            "select ancestor_code from marts.bridge_region_ancestor where region_code = ? order by distance",
            county,
        )
        assert [c for (c,) in chain] == [county, "530700", "530000", "000000"]
        path = rows(
            con, "select path_codes, province_code, prefecture_code from marts.dim_region where region_code = ?", county
        )
        assert path == [(["000000", "530000", "530700", county], "530000", "530700")]
    # the historical county code follows its historical prefecture 丽江地区
    chain = rows(
        con, "select ancestor_code from marts.bridge_region_ancestor where region_code = '533221' order by distance"
    )
    assert [c for (c,) in chain] == ["533221", "533200", "530000", "000000"]


def test_roll_up_is_one_join(con):
    """Count current counties under each level with a single join on the bridge."""
    counts = dict(
        rows(
            con,
            """select b.ancestor_code, count(*)
               from marts.dim_region as r
               join marts.bridge_region_ancestor as b using (region_code)
               where r.level = 'county' and r.is_current and b.ancestor_code in ('530700', '530000', '000000')
               group by b.ancestor_code""",
        )
    )
    assert counts == {"530700": 5, "530000": 5, "000000": 5}


# ---- classifications ----------------------------------------------------------------------------


def test_dim_industry_has_20_sections_and_97_divisions(con):
    assert dict(rows(con, "select level, count(*) from marts.dim_industry group by level")) == {
        "section": 20,
        "division": 97,
    }
    assert rows(con, "select count(*) from marts.dim_industry where section_name_zh is null") == [(0,)]
    assert rows(con, "select section_code, section_name_zh from marts.dim_industry where industry_code = '36'") == [
        ("C", "制造业")
    ]


def test_dim_skill_grade_eight_levels_high_skill_from_senior_worker(con):
    grades = rows(con, "select grade_order, name_zh, is_high_skill from marts.dim_skill_grade order by grade_order")
    assert [g[0] for g in grades] == list(range(1, 9))
    senior = next(order for order, name, _ in grades if name == "高级工")
    assert {name for order, name, high in grades if high} == {name for order, name, _ in grades if order >= senior}
    assert {name for _, name, high in grades if high} == {"高级工", "技师", "高级技师", "特级技师", "首席技师"}


def test_ownership_types_and_worker_groups_are_loaded(con):
    assert rows(con, "select is_non_public from marts.dim_ownership_type where ownership_type_code = 'private'") == [
        (True,)
    ]
    assert rows(con, "select name_zh from marts.dim_worker_group where worker_group_code = 'migrant_workers'") == [
        ("农民工",)
    ]


# ---- targets ------------------------------------------------------------------------------------


def test_fct_target_columns(con):
    assert columns(con, "fct_target") == [
        "target_id", "indicator_code", "region_code", "comparator", "target_value", "target_value_high", "status",
        "value_text", "deadline_year", "recurrence", "baseline_value", "baseline_year", "source_document",
        "source_section", "source_quote", "is_conflicting", "conflict_group", "note", "unit",
    ]  # fmt: skip


def test_masked_targets_have_no_value(con):
    masked = rows(con, "select target_value, target_value_high from marts.fct_target where status = 'masked'")
    assert len(masked) >= 10
    assert all(value is None and high is None for value, high in masked)
    # and the one masked Lijiang skill-talent total is still there with its literal text
    assert rows(con, "select value_text from marts.fct_target where target_id = 'lj2025-mt-07'") == [("6.*人以上",)]


def test_two_conflict_groups_of_two_statements_each(con):
    groups = rows(
        con,
        """select conflict_group, count(*), count(distinct indicator_code), list(target_id order by target_id)
           from marts.fct_target where is_conflicting group by conflict_group order by conflict_group""",
    )
    assert groups == [
        ("lj-high-skill-new-2025", 2, 1, ["lj2025-mt-08", "lj2025-zl4-11"]),
        ("lj-skill-talents-total-2025", 2, 1, ["lj2025-mt-07", "lj2025-zl4-10"]),
    ]


def test_targets_carry_the_indicator_unit(con):
    assert rows(con, "select count(*) from marts.fct_target where unit is null") == [(0,)]
    assert rows(con, "select unit, target_value from marts.fct_target where target_id = 'lj2025-zl5-03'") == [
        ("元", 350_000_000.0)
    ]


# ---- tasks and reporting ------------------------------------------------------------------------


def test_every_task_has_exactly_one_lead_unit(con):
    leads = rows(
        con,
        """select t.task_code, t.lead_unit_code, count(b.reporting_unit_code)
           from marts.dim_task as t
           left join marts.bridge_task_unit as b on b.task_code = t.task_code and b.role = 'lead'
           group by all""",
    )
    assert len(leads) == 16
    assert all(n == 1 and lead is not None for _, lead, n in leads), leads
    assert rows(con, "select lead_unit_code from marts.dim_task where task_code = 'lj-2-4-2'") == [("530700-RSJ",)]


def test_every_expected_submission_is_due_after_its_period_end(con):
    total, late_due, wrong_gap = rows(
        con,
        """select count(*),
                  count(*) filter (where due_date <= period_end_date),
                  count(*) filter (where due_date - period_end_date <> due_days_after_period_end)
           from marts.fct_expected_submission""",
    )[0]
    assert total > 0 and late_due == 0 and wrong_gap == 0


def test_expected_submissions_cover_every_obligation_year_and_period(con):
    per_year = {"annual": 1, "half_year": 2, "quarter": 4, "month": 12}
    obligations = rows(
        con,
        """select o.reporting_unit_code, o.indicator_code, o.periodicity,
                  o.last_year - o.first_year + 1, count(e.period_id)
           from marts.fct_reporting_obligation as o
           left join marts.fct_expected_submission as e using (reporting_unit_code, indicator_code)
           group by all""",
    )
    seed = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "reference" / "reporting_obligations.csv"
    assert len(obligations) == len(seed.read_text(encoding="utf-8").splitlines()) - 1  # one per seed row
    wrong = [o for o in obligations if o[4] != o[3] * per_year[o[2]]]
    assert wrong == []
    # an annual report for 2025 is due 60 days after 31 December
    assert rows(
        con,
        """select distinct due_date from marts.fct_expected_submission
           where period_id = '2025' and due_days_after_period_end = 60""",
    ) == [(datetime.date(2026, 3, 1),)]
