"""The statistics and survey marts on the demo microdata: the skill-grade pyramid, worker and enterprise
shares, trainings, certifications, wage quartiles, craftsmen against the 2035 targets, and the survey
estimates with their standard errors.

The warehouse is built once for the module WITH microdata (generate --microdata → ingest → build,
about 30 s) in its own REFORM_HOME and opened read-only. The exact arithmetic (pyramid counts and
margins, ratios of counts, weighted quartiles, the Hájek mean and proportion with their linearised
standard errors, suppression at k - 1 / k and n = 29 / 30) is pinned by the dbt unit tests on tiny
fixtures; here the rules are checked on the real demo data, partly against an independent computation
from the staging views.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from tests.linear_algebra import fixed_exactly, pinned_by_bounds

pytestmark = pytest.mark.slow

K = 5  # var stats_disclosure_k
MIN_BASE = 30  # var survey_min_unweighted_base
Z = 1.959963984540054
PROVINCES = ("530000", "230000")

# every published count of persons or enterprises, by mart
PUBLISHED_COUNTS = {
    "fct_skill_grade_pyramid": ["n_workers"],
    "fct_worker_share": ["numerator_count", "denominator_count"],
    "fct_training_person_times": ["n_person_times", "n_persons"],
    "fct_skill_certification": ["n_certificates", "n_persons"],
    "fct_wage_quantile": ["n_workers"],
    "fct_enterprise_share": ["numerator_count", "denominator_count", "not_reported_count"],
    "fct_craftsmen_by_level": ["n_craftsmen"],
}


def rows(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def scalar(con, sql: str, *params):
    return rows(con, sql, *params)[0][0]


def prefectures_of(con, province: str) -> list[str]:
    return [
        r
        for (r,) in rows(
            con, "select region_code from marts.dim_region where parent_code = ? and level = 'prefecture'", province
        )
    ]


# ---- the pyramid ---------------------------------------------------------------------------------


def test_pyramid_totals_equal_worker_counts_per_region(con):
    """The all-industries, all-grades row of every region is the number of distinct workers recorded in
    the region or below it - counted here straight from the staging view of the worker records."""
    expected = dict(
        rows(
            con,
            """select b.ancestor_code, count(distinct w.worker_pseudonym)
               from staging.stg_microdata__workers as w
               join marts.bridge_region_ancestor as b using (region_code)
               group by 1""",
        )
    )
    assert expected["000000"] > 1900
    published = rows(
        con,
        """select region_code, n_workers, is_suppressed from marts.fct_skill_grade_pyramid
           where industry_section_code = '_T' and skill_grade_code = '_T'""",
    )
    assert {region for region, _, _ in published} == set(expected)
    assert rows(con, "select count(distinct year) from marts.fct_skill_grade_pyramid") == [(1,)]
    for region, n_workers, suppressed in published:
        if suppressed:
            assert n_workers is None and 1 <= expected[region] < K, region
        else:
            assert n_workers == expected[region], region


def test_pyramid_margins_add_up_where_nothing_is_suppressed(con):
    """Where no cell is withheld (the nation, at least) the grade rows add up to the total, and so do the
    sections."""
    checked: set[str] = set()
    for region in ("000000", *PROVINCES):
        total = scalar(
            con,
            """select n_workers from marts.fct_skill_grade_pyramid
               where region_code = ? and industry_section_code = '_T' and skill_grade_code = '_T'""",
            region,
        )
        by_grade = rows(
            con,
            """select grade_order, n_workers from marts.fct_skill_grade_pyramid
               where region_code = ? and industry_section_code = '_T' and skill_grade_code <> '_T'
               order by grade_order""",
            region,
        )
        assert by_grade[0][0] == 0  # no grade is the base layer
        if all(n is not None for _, n in by_grade):
            assert sum(n for _, n in by_grade) == total, region
            checked.add(region)
        by_section = rows(
            con,
            """select n_workers from marts.fct_skill_grade_pyramid
               where region_code = ? and industry_section_code <> '_T' and skill_grade_code = '_T'""",
            region,
        )
        if all(n is not None for (n,) in by_section):
            assert sum(n for (n,) in by_section) == total, region
    assert "000000" in checked


def test_province_rollup_equals_the_sum_of_its_prefectures(con):
    """Where every prefecture's figure is published, the province's is their sum (the worker totals of
    both provinces always are)."""
    compared = 0
    for province in PROVINCES:
        prefectures = prefectures_of(con, province)
        for grade in ("_T", "_Z", "senior", "intermediate"):
            cells = dict(
                rows(
                    con,
                    """select region_code, n_workers from marts.fct_skill_grade_pyramid
                       where industry_section_code = '_T' and skill_grade_code = ?""",
                    grade,
                )
            )
            children = [cells[p] for p in prefectures if p in cells]
            assert children, (province, grade)
            if all(n is not None for n in children):
                assert cells[province] == sum(children), (province, grade)
                compared += 1
            else:
                assert grade != "_T", province
        # person-times of training, year by year
        for year, value in rows(
            con,
            "select year, n_person_times from marts.fct_training_person_times where region_code = ?",
            province,
        ):
            children = [
                n
                for (n,) in rows(
                    con,
                    f"""select n_person_times from marts.fct_training_person_times
                        where year = ? and region_code in ({", ".join("?" * len(prefectures))})""",
                    year,
                    *prefectures,
                )
            ]
            if all(n is not None for n in children):
                assert value == sum(children), (province, year)
                compared += 1
    assert compared >= 4


# ---- disclosure control --------------------------------------------------------------------------


def test_no_published_count_below_k(con):
    n_suppressed = 0
    for table, columns in PUBLISHED_COUNTS.items():
        for column in columns:
            small = scalar(con, f"select count(*) from marts.{table} where {column} between 1 and {K - 1}")
            assert small == 0, (table, column)
        # a suppressed row shows null, never zero
        first = columns[0]
        assert scalar(con, f"select count(*) from marts.{table} where is_suppressed and {first} is not null") == 0
        n_suppressed += scalar(con, f"select count(*) from marts.{table} where is_suppressed")
    assert n_suppressed > 50, "the demo data have small cells, so the rule is exercised"


def test_suppressed_pyramid_cells_are_the_small_ones(con):
    """Recount the county cells from the staging view: every cell of 1 to k - 1 workers is withheld, the
    others are the recount or withheld as a complement (secondary suppression, tested below)."""
    counts = dict(
        rows(
            con,
            """select w.region_code || '|' || coalesce(w.skill_grade_code, '_Z'), count(distinct w.worker_pseudonym)
               from staging.stg_microdata__workers as w
               join marts.dim_region as r using (region_code)
               where r.level = 'county'
               group by 1""",
        )
    )
    assert counts
    published = rows(
        con,
        """select region_code || '|' || skill_grade_code, n_workers, is_suppressed
           from marts.fct_skill_grade_pyramid
           where region_level = 'county' and industry_section_code = '_T' and skill_grade_code <> '_T'""",
    )
    assert len(published) == len(counts)
    for key, n_workers, suppressed in published:
        if counts[key] < K:
            assert suppressed, key
        assert n_workers == (None if suppressed else counts[key]), key
    assert sum(suppressed and counts[key] >= K for key, _, suppressed in published) > 0, "complements withheld"


def _derive(values: dict, sums: list[tuple[tuple, list[tuple]]]) -> dict:
    """What a reader can subtract from published sums: while a sum (total, parts) has exactly one unknown
    member, it is known. ``values``: member → number or None (withheld, or never published); the sums
    hold exactly. Returns the members learned this way, with the numbers learned."""
    known = {m: v for m, v in values.items() if v is not None}
    learned: dict = {}
    changed = True
    while changed:
        changed = False
        for total, parts in sums:
            unknown = [m for m in (total, *parts) if m not in known]
            if len(unknown) != 1:
                continue
            m = unknown[0]
            rest = sum(known[x] for x in parts if x != m)
            known[m] = learned[m] = known[total] - rest if m != total else rest
            changed = True
    return learned


def _worker_count_sums(con, rule: str = "published", remainders: bool = False) -> tuple[dict, dict, list]:
    """The worker counts the statistics marts publish, as members of the sums that hold between them:
    (published values, true values, sums). Members: ('c', year, region, section, grade) for a pyramid
    cell; ('s', year, region, 'HS'|'ST'|'MW'|'W') for the share counts, plus the never published
    complements 'LS' = ST - HS, 'NH' = W - HS, 'NM' = W - MW. True values from the staging table
    the marts read (its n_workers before suppression). ``rule``: 'published' - what the marts show;
    'single_sum' - step 1 alone (the exact audit's cells published); 'primary' - every count of 1 to
    k - 1 withheld, nothing else. ``remainders``: a region's own workers (its count minus its
    children's, where not zero) are members too, never published."""
    true: dict = {}
    shown: dict = {}
    for year, region, section, grade, n, withheld, suppression in rows(
        con,
        """select year, region_code, industry_section_code, skill_grade_code, n_workers, is_suppressed,
               suppression
           from staging.int_worker_counts_audited""",
    ):
        key = (
            ("c", year, region, section, grade)
            if grade not in ("_HS", "_ST", "_MW")
            else ("s", year, region, grade[1:])
        )
        true[key] = n
        hidden = {"published": withheld, "single_sum": withheld and suppression != "audit", "primary": 1 <= n < K}
        shown[key] = None if hidden[rule] else n
    if rule == "published":  # the share counts as the marts show them (the staging table is the true values)
        for year, region, share, numerator, denominator in rows(
            con, "select year, region_code, share_code, numerator_count, denominator_count from marts.fct_worker_share"
        ):
            top, bottom = {"high_skill_of_skill_talents": ("HS", "ST"), "high_skill_of_workers": ("HS", "W"),
                           "migrant_workers": ("MW", "W")}[share]  # fmt: skip
            for code, value in ((top, numerator), (bottom, denominator)):
                if value is None:
                    shown[("s", year, region, code)] = None
        pyramid = {
            ("c", *key): n
            for *key, n in rows(
                con,
                """select year, region_code, industry_section_code, skill_grade_code, n_workers
                   from marts.fct_skill_grade_pyramid""",
            )
        }
        assert pyramid == {k: v for k, v in shown.items() if k[0] == "c"}
    years_regions = {(k[1], k[2]) for k in true if k[0] == "s"}
    for y, r in years_regions:
        w = ("c", y, r, "_T", "_T")
        true[("s", y, r, "W")] = true[w]
        shown[("s", y, r, "W")] = shown[w]
        for code, a, b in (("LS", "ST", "HS"), ("NH", "W", "HS"), ("NM", "W", "MW")):
            true[("s", y, r, code)] = true[("s", y, r, a)] - true[("s", y, r, b)]
            shown[("s", y, r, code)] = None  # never published
    grades = dict(rows(con, "select skill_grade_code, is_high_skill from marts.dim_skill_grade"))
    parent = dict(rows(con, "select region_code, parent_code from marts.dim_region"))
    by_row, by_column, by_parent = defaultdict(list), defaultdict(list), defaultdict(list)
    for key in true:
        kind, y, r, *rest = key
        if kind == "c":
            section, grade = rest
            if grade != "_T":
                by_row[(y, r, section)].append(key)
            if section != "_T":
                by_column[(y, r, grade)].append(key)
        if parent.get(r):
            by_parent[(kind, y, parent[r], *rest)].append(key)
    sums = [(("c", *g, "_T"), parts) for g, parts in by_row.items()]
    sums += [(("c", g[0], g[1], "_T", g[2]), parts) for g, parts in by_column.items()]
    # a parent is the sum of its children only where no worker is recorded at the parent itself; with
    # ``remainders``, those workers are a member too, ('r', parent's key): never published
    for total, parts in by_parent.items():
        if total not in true:
            continue
        own = true[total] - sum(true[p] for p in parts)
        if own == 0:
            sums.append((total, parts))
        elif remainders:
            true[("r", *total)] = own
            shown[("r", *total)] = None
            sums.append((total, [*parts, ("r", *total)]))
    for y, r in years_regions:
        ladder = [("c", y, r, "_T", g) for g in grades if ("c", y, r, "_T", g) in true]
        sums.append((("s", y, r, "HS"), [k for k in ladder if grades[k[4]]]))
        sums.append((("s", y, r, "ST"), ladder))
        for total, a, b in (("ST", "HS", "LS"), ("W", "HS", "NH"), ("W", "MW", "NM")):
            sums.append((("s", y, r, total), [("s", y, r, a), ("s", y, r, b)]))
        if ("c", y, r, "_T", "_Z") in true:  # the workers without a grade: all workers but the skill talents
            sums.append((("s", y, r, "W"), [("s", y, r, "ST"), ("c", y, r, "_T", "_Z")]))
    return shown, true, sums


def test_no_published_sum_gives_a_small_count_away_by_subtraction(con):
    """Secondary suppression: subtracting published parts from published totals, one sum at a time and
    step by step (the grades of a row, the sections of a column, the regions of a parent, the share
    counts and their complements), never reaches a count of 1 to k - 1 workers. With the primary rule
    alone it does."""
    shown, true, sums = _worker_count_sums(con)
    assert sum(1 for k, v in shown.items() if v is None and 1 <= true[k] < K) > 20, "small counts to protect"
    learned = _derive(shown, sums)
    for member, value in learned.items():
        assert value == true[member], member  # the sums hold
    assert not [m for m, v in learned.items() if 1 <= v < K]
    # the same data with the primary rule alone give small counts away: the test has teeth
    primary_only, _, _ = _worker_count_sums(con, "primary")
    assert [m for m, v in _derive(primary_only, sums).items() if 1 <= v < K]


def _fixed_small_counts(shown: dict, true: dict, sums: list) -> list:
    """The withheld counts of 1 to k - 1 that the published sums fix when solved together (exact
    elimination over the rationals, one year at a time: no sum crosses a year)."""
    by_year: dict = defaultdict(list)
    for total, parts in sums:
        equation: dict = {}
        for member, coefficient in ((total, -1), *((part, 1) for part in parts)):
            if shown[member] is None:
                equation[member] = equation.get(member, 0) + coefficient
        if equation:
            by_year[total[1]].append(equation)
    fixed = set().union(*(fixed_exactly(equations) for equations in by_year.values()))
    return sorted(m for m in fixed if 1 <= true[m] < K)


def test_no_combination_of_published_sums_pins_a_small_count_down(con):
    """The exact audit (int_worker_counts_audited): solving all the published sums together - as a
    reader with a linear-algebra package would - fixes no withheld count of 1 to k - 1 workers, nor a
    region's own workers (its count minus its children's) when 1 to k - 1. With
    the single-sum rule alone (the audit's cells published) it fixes some, as it did before the audit."""
    shown, true, sums = _worker_count_sums(con, remainders=True)
    assert [k for k in true if k[0] == "r" and 1 <= true[k] < K], "regions with a few workers of their own"
    assert _fixed_small_counts(shown, true, sums) == []
    single_sum, _, _ = _worker_count_sums(con, "single_sum", remainders=True)
    assert _fixed_small_counts(single_sum, true, sums), "the audit had something to do"
    audit = rows(
        con, "select n_workers, is_suppressed from staging.int_worker_counts_audited where suppression = 'audit'"
    )
    assert audit and all(n >= K and suppressed for n, suppressed in audit)


def test_no_small_worker_count_is_pinned_to_one_value_by_bounds(con):
    """The pyramid and the worker shares: with the bounds a reader knows - a count the marts list but
    withhold is at least 1, a complement or a region's own workers at least 0 - no withheld count of
    1 to k - 1 workers, nor a region's own workers when few, is pinned to one value (linear programs
    over all the published sums, one year at a time)."""
    shown, true, sums = _worker_count_sums(con, remainders=True)
    by_year: dict = defaultdict(list)
    for total, parts in sums:
        equation: dict = {total: -1}
        for part in parts:
            equation[part] = equation.get(part, 0) + 1
        by_year[total[1]].append(equation)
    listed = {m for m in true if m[0] == "c" or (m[0] == "s" and m[3] in ("HS", "ST", "MW", "W"))}
    for group in by_year.values():
        unknown = {m for e in group for m in e if shown[m] is None}
        lower = {m: 1 for m in unknown if m in listed}
        small = [m for m in unknown if 1 <= true[m] < K]
        assert pinned_by_bounds(group, true, unknown, lower, small) == set()


# ---- shares --------------------------------------------------------------------------------------


def test_high_skill_share_is_a_ratio_of_counts(con):
    shares = rows(
        con,
        """select region_code, numerator_count, denominator_count, share_pct, is_suppressed
           from marts.fct_worker_share where share_code = 'high_skill_of_workers'""",
    )
    assert sum(not suppressed for *_, suppressed in shares) > 20
    for region, numerator, denominator, share, suppressed in shares:
        if not suppressed:
            assert 0 <= share <= 100
            assert share == pytest.approx(numerator / denominator * 100), region
    # a province's share is its summed counts, not the mean of its prefectures' percentages (the
    # prefectures' true counts: some of their shares are withheld)
    by_region = {region: (numerator, denominator, share) for region, numerator, denominator, share, _ in shares}
    true_counts = dict(
        ((region, grade), n)
        for region, grade, n in rows(
            con,
            """select region_code, skill_grade_code, n_workers from staging.int_worker_counts_audited
               where industry_section_code = '_T' and skill_grade_code in ('_HS', '_T')""",
        )
    )
    compared = 0
    for province in PROVINCES:
        children = [
            (true_counts[(p, "_HS")], true_counts[(p, "_T")], true_counts[(p, "_HS")] / true_counts[(p, "_T")] * 100)
            for p in prefectures_of(con, province)
            if (p, "_T") in true_counts
        ]
        assert len(children) >= 2, province
        if by_region[province][2] is None:
            continue  # the province's own share withheld
        summed = sum(n for n, _, _ in children) / sum(d for _, d, _ in children) * 100
        mean = sum(share for *_, share in children) / len(children)
        assert by_region[province][2] == pytest.approx(summed), province
        if not math.isclose(summed, mean, rel_tol=1e-6):
            assert not math.isclose(by_region[province][2], mean, rel_tol=1e-6), province
            compared += 1
    assert compared > 0


def test_high_skill_share_matches_the_skill_grade_ladder(con):
    """Nationally: workers with a grade of 高级工 or above over workers with any grade, from staging."""
    high, graded = rows(
        con,
        """select count(distinct w.worker_pseudonym) filter (where g.is_high_skill),
                  count(distinct w.worker_pseudonym) filter (where g.skill_grade_code is not null)
           from staging.stg_microdata__workers as w
           left join marts.dim_skill_grade as g using (skill_grade_code)""",
    )[0]
    published = rows(
        con,
        """select numerator_count, denominator_count, share_pct from marts.fct_worker_share
           where region_code = '000000' and share_code = 'high_skill_of_skill_talents'""",
    )
    assert published == [(high, graded, pytest.approx(high / graded * 100))]


def test_migrant_share_and_enterprise_coverage_recomputed(con):
    migrants, workers = rows(
        con,
        """select count(distinct worker_pseudonym) filter (
                      where worker_group_code in ('migrant_workers', 'new_generation_migrant_workers')),
                  count(distinct worker_pseudonym)
           from staging.stg_microdata__workers""",
    )[0]
    assert rows(
        con,
        """select numerator_count, denominator_count from marts.fct_worker_share
           where region_code = '000000' and share_code = 'migrant_workers'""",
    ) == [(migrants, workers)]
    union, stated = rows(
        con,
        """select count(*) filter (where has_union), count(has_union)
           from staging.stg_microdata__enterprises where headcount >= 100""",
    )[0]
    assert stated >= K
    assert rows(
        con,
        """select numerator_count, denominator_count from staging.int_enterprise_shares_counted
           where region_code = '000000' and share_code = 'union_100plus'""",
    ) == [(union, stated)]
    # the demo has few enterprises of 100+: the audit may withhold even the national count (it does:
    # 13 of 18), and then the share goes with it
    (numerator, denominator, share), *more = rows(
        con,
        """select numerator_count, denominator_count, share_pct from marts.fct_enterprise_share
           where region_code = '000000' and share_code = 'union_100plus'""",
    )
    assert not more and denominator in (stated, None)
    assert (numerator, share) in ((union, pytest.approx(union / stated * 100)), (None, None))


def test_the_stated_reference_year_is_the_statistics_year(con):
    """The demo rosters and worker records state 统计年度 2025 (as 2025, 2025年 or 2025年度) while they are
    received today: every statistic of them is of 2025."""
    assert rows(con, "select distinct reference_year from staging.stg_microdata__workers") == [(2025,)]
    assert rows(con, "select distinct reference_year from staging.stg_microdata__enterprises") == [(2025,)]
    for table in ("fct_skill_grade_pyramid", "fct_worker_share", "fct_enterprise_share"):
        assert rows(con, f"select distinct year from marts.{table}") == [(2025,)], table


def test_the_education_fund_60pct_rule_is_a_share_of_reporting_enterprises(con):
    """Nationally: enterprises whose frontline education spending is at least 60 % of their fund, over
    those stating both amounts - recomputed here from the staging view; the others are not reported."""
    meeting, reporting, enterprises = rows(
        con,
        """select count(*) filter (where frontline_education_yuan * 100 >= 60 * education_fund_yuan
                                       and education_fund_yuan > 0),
                  count(*) filter (where frontline_education_yuan is not null and education_fund_yuan is not null),
                  count(*)
           from staging.stg_microdata__enterprises""",
    )[0]
    assert enterprises > reporting >= K and 0 < meeting < reporting
    national = rows(
        con,
        """select data_status, numerator_count, denominator_count, not_reported_count, share_pct, is_suppressed
           from marts.fct_enterprise_share
           where region_code = '000000' and share_code = 'education_fund_frontline_60pct'""",
    )
    assert national == [
        ("collected", meeting, reporting, enterprises - reporting, pytest.approx(meeting / reporting * 100), False)
    ]
    share = national[0][4]
    assert 0 < share < 100
    # every region with enterprises has a row; a published one is a ratio of its counts
    published = rows(
        con,
        """select numerator_count, denominator_count, share_pct from marts.fct_enterprise_share
           where share_code = 'education_fund_frontline_60pct' and not is_suppressed and share_pct is not null""",
    )
    assert len(published) >= 3
    for numerator, denominator, pct in published:
        assert denominator > 0 and 0 <= pct <= 100
        assert pct == pytest.approx(numerator / denominator * 100)


def test_craftsmen_counted_against_the_three_national_2035_targets(con):
    """Workers holding each title in 2025, recounted from the staging view: published when k or more,
    withheld (null, never 0) when 1 to k - 1; the demo has titles of every level."""
    counts = dict(
        rows(
            con,
            """select craftsman_level, count(distinct worker_pseudonym) from staging.stg_microdata__workers
               where craftsman_level is not null group by 1""",
        )
    )
    craftsmen = rows(
        con,
        """select target_id, craftsman_level_code, target_value, deadline_year, n_craftsmen, is_suppressed,
                  microdata_status, microdata_year, pct_of_target
           from marts.fct_craftsmen_by_level order by level_order""",
    )
    assert [row[:4] for row in craftsmen] == [
        ("nat2035-01", "great_craftsman", 2000.0, 2035),
        ("nat2035-02", "provincial_craftsman", 10000.0, 2035),
        ("nat2035-03", "city_craftsman", 50000.0, 2035),
    ]
    for _target, level, target, _deadline, n_craftsmen, suppressed, status, year, pct in craftsmen:
        assert (status, year) == ("collected", 2025), level
        assert counts[level] > 0, level
        if suppressed:
            assert n_craftsmen is None and counts[level] < K, level
        else:
            assert n_craftsmen == counts[level] >= K, level
            assert pct == pytest.approx(n_craftsmen / target * 100), level
    assert any(not suppressed for *_, suppressed, _, _, _ in craftsmen)  # 市级工匠: about 16 in the demo


# ---- trainings, certifications, wages ------------------------------------------------------------


def test_trainings_and_certifications_are_all_placed_nationally(con):
    """Every training and certificate of the demo belongs to a recorded worker, so the national rows
    hold them all (repeated records across files counted once)."""
    for table, source, key, date in (
        ("fct_training_person_times", "stg_microdata__trainings", "worker_pseudonym, course_name, start_date",
         "start_date"),
        ("fct_skill_certification", "stg_microdata__certifications",
         "worker_pseudonym, skill_grade_code, occupation_code, occupation_name, certified_on", "certified_on"),
    ):  # fmt: skip
        column = "n_person_times" if table == "fct_training_person_times" else "n_certificates"
        where = "" if table == "fct_training_person_times" else "and skill_grade_code = '_T'"
        published = dict(rows(con, f"select year, {column} from marts.{table} where region_code = '000000' {where}"))
        expected = dict(rows(con, f"select year({date}), count(distinct ({key})) from staging.{source} group by 1"))
        assert published == expected, table


# mart, its id column, the table of true counts, the columns that identify a row there, the count the
# sums hold for, the persons behind it (what must not be small), the column with an all-categories
# row '_T' (certificates add up over the grades - their persons do not -, wages over the occupations)
AUDITED_TABLES = {
    "trainings": ("fct_training_person_times", "training_cell_id", "int_trainings_counted",
                  ("year", "region_code"), "n_persons", "n_persons", None),
    "certifications": ("fct_skill_certification", "certification_cell_id", "int_certifications_counted",
                       ("year", "region_code", "skill_grade_code"), "n_certificates", "n_persons",
                       "skill_grade_code"),
    "wages": ("fct_wage_quantile", "wage_quantile_id", "int_wage_cells_summarised",
              ("year", "region_code", "occupation_key", "skill_grade_code"), "n_workers", "n_workers",
              "occupation_key"),
}  # fmt: skip


def _audited_table(con, name: str, measure: str = "value") -> tuple[dict, dict, dict, list[dict]]:
    """One of the audited tables as a reader sees it: (withheld by the mart, the true count and the
    persons behind each row - by key -, and the equations that hold between the rows, built here: the
    regions below a parent add up to it, plus a region's own persons ('own', key) where they do not;
    the categories add up to '_T'). ``measure``: 'value', the count the sums hold for, or 'persons'
    (the persons behind certificates add up over the regions only)."""
    mart, id_column, true_table, keys, value, persons, total_column = AUDITED_TABLES[name]
    if measure == "persons":
        value, total_column = persons, None
    withheld_by_id = dict(rows(con, f"select {id_column}, is_suppressed from marts.{mart}"))
    key_list = ", ".join(keys)
    true_rows = rows(con, f"select cell_id, {key_list}, {value}, {persons} from staging.{true_table}")
    assert len(true_rows) == len(withheld_by_id), "one mart row per true row"
    withheld = {tuple(key): withheld_by_id[cell_id] for cell_id, *key, _, _ in true_rows}
    true = {tuple(key): v for _, *key, v, _ in true_rows}
    people = {tuple(key): n for _, *key, _, n in true_rows}
    parent = dict(rows(con, "select region_code, parent_code from marts.dim_region"))
    at = keys.index("region_code")
    by_parent, by_total = defaultdict(list), defaultdict(list)
    for key in true:
        if parent.get(key[at]):
            by_parent[(*key[:at], parent[key[at]], *key[at + 1 :])].append(key)
        if total_column and key[keys.index(total_column)] != "_T":
            c = keys.index(total_column)
            by_total[(*key[:c], "_T", *key[c + 1 :])].append(key)
    equations: list[dict] = []
    for total, parts in [*by_parent.items(), *by_total.items()]:
        if total not in true:
            continue
        equation = {part: 1 for part in parts} | {total: -1}
        own = true[total] - sum(true[part] for part in parts)
        assert own >= 0, (name, total)
        if own:
            equation[("own", total)] = 1
            true[("own", total)] = own
            people[("own", total)] = people[total] - sum(people[part] for part in parts)
        equations.append(equation)
    return withheld, true, people, equations


def _small_rows_given_away(withheld: dict, people: dict, equations: list[dict]) -> list:
    """The rows of 1 to k - 1 persons, and the regions' own persons of 1 to k - 1, that the published
    rows fix when all the equations are solved together (exact elimination, one year at a time)."""
    by_year: dict = defaultdict(list)
    for equation in equations:
        unknown = {m: c for m, c in equation.items() if m[0] == "own" or withheld[m]}
        if unknown:
            by_year[next(m for m in equation if m[0] != "own")[0]].append(unknown)  # no sum crosses a year
    fixed = set().union(*(fixed_exactly(group) for group in by_year.values()))
    return sorted((m for m in fixed if 1 <= people[m] < K), key=repr)


@pytest.mark.parametrize("name", AUDITED_TABLES)
def test_no_combination_of_published_rows_gives_a_small_row_away(con, name):
    """The exact audit of the trainings, certifications and wages (int_statistics_cells_audited): the
    published rows of each mart, solved together as a reader would, fix no withheld row of 1 to k - 1
    persons and no region's own persons of 1 to k - 1. With the small rows alone withheld, they do:
    a parent minus its other children, or '_T' minus the other occupations, gave rows away."""
    withheld, _, people, equations = _audited_table(con, name)
    small = {key for key in withheld if 1 <= people[key] < K}
    assert small and all(withheld[key] for key in small), "every small row is withheld"
    assert _small_rows_given_away(withheld, people, equations) == []
    primary_only = {key: key in small for key in withheld}
    assert _small_rows_given_away(primary_only, people, equations), "the audit had something to do"
    audited = rows(
        con,
        """select n_persons, suppression from staging.int_statistics_cells_audited
           where table_name = ? and is_suppressed""",
        name,
    )
    assert sum(withheld.values()) == len(audited)
    assert {s for _, s in audited} == {"primary", "audit"}
    assert all(n >= K for n, s in audited if s == "audit")


def _small_rows_pinned(withheld: dict, true: dict, people: dict, equations: list[dict]) -> list:
    """The withheld rows of 1 to k - 1 persons, and the regions' own persons of 1 to k - 1, that the
    published rows and what a reader knows besides - a listed row withheld is at least 1 (the marts
    never withhold a zero), a region's own persons at least 0 - pin to one value (linear programs,
    one year at a time)."""
    by_year: dict = defaultdict(list)
    for equation in equations:
        by_year[next(m for m in equation if m[0] != "own")[0]].append(equation)
    pinned: list = []
    for group in by_year.values():
        unknown = {m for e in group for m in e if m[0] == "own" or withheld[m]}
        lower = {m: 1 for m in unknown if m[0] != "own"}
        pinned += pinned_by_bounds(group, true, unknown, lower, [m for m in unknown if 1 <= people[m] < K])
    return sorted(pinned, key=repr)


@pytest.mark.parametrize("name", AUDITED_TABLES)
def test_no_small_row_is_pinned_to_one_value_by_bounds(con, name):
    """Counts are not negative and a withheld row the mart lists is at least 1: with those bounds the
    published rows of each mart leave every small row - and a region's own persons, when few - at
    least two possible values (for the certificates, their persons too, over the regions). The
    linear audit alone left some pinned (a province's 6 technicians over six withheld prefectures:
    each 1)."""
    for measure in ("value", "persons") if name == "certifications" else ("value",):
        withheld, true, people, equations = _audited_table(con, name, measure)
        assert _small_rows_pinned(withheld, true, people, equations) == [], measure
    if name == "certifications":  # with the small rows alone withheld, many are pinned
        primary_only = {key: 1 <= people[key] < K for key in withheld}
        assert len(_small_rows_pinned(primary_only, true, people, equations)) > 20


SCOPES = {"union_100plus": "H", "collective_contract_100plus": "H", "education_fund_frontline_60pct": "E"}


def _enterprise_share_equations(con, rule: str = "published") -> tuple[dict, dict, list[dict]]:
    """The enterprise shares as a reader sees them: (withheld, true count, equations), by member
    (year, region, share, 'N'|'D'|'R'|'C') - numerator, denominator, not reported, complement - or
    (year, region, 'H'|'E') - the enterprises of 100+ and all enterprises; the complement and those in
    scope are never published. Equations: N + C = D; D + R = H for both 100+ shares, = E for the
    education fund; the regions below a parent add up to it, plus its own enterprises ('own', key)
    where they do not. ``rule``: 'published' - what the mart shows; 'primary' - the counts of 1 to
    k - 1 withheld, nothing else."""
    true: dict = {}
    withheld: dict = {}
    published = {
        (year, region, share): (n, d, r)
        for year, region, share, n, d, r in rows(
            con,
            """select year, region_code, share_code, numerator_count, denominator_count, not_reported_count
               from marts.fct_enterprise_share""",
        )
    }
    equations: list[dict] = []
    for year, region, share, n, d, r in rows(
        con,
        """select year, region_code, share_code, coalesce(numerator_count, 0), denominator_count,
                  not_reported_count
           from staging.int_enterprise_shares_counted""",
    ):
        row = (year, region, share)
        for part, value, shown in zip("NDR", (n, d, r), published[row], strict=True):
            true[(*row, part)] = value
            withheld[(*row, part)] = shown is None if rule == "published" else 1 <= value < K
        true[(*row, "C")] = d - n
        withheld[(*row, "C")] = True
        true[(year, region, SCOPES[share])] = d + r
        withheld[(year, region, SCOPES[share])] = True
        equations.append({(*row, "N"): 1, (*row, "C"): 1, (*row, "D"): -1})
        equations.append({(*row, "D"): 1, (*row, "R"): 1, (year, region, SCOPES[share]): -1})
    parent = dict(rows(con, "select region_code, parent_code from marts.dim_region"))
    by_parent = defaultdict(list)
    for key in list(true):
        if parent.get(key[1]):
            by_parent[(key[0], parent[key[1]], *key[2:])].append(key)
    for total, parts in by_parent.items():
        if total in true:
            equation = {part: 1 for part in parts} | {total: -1}
            own = true[total] - sum(true[part] for part in parts)
            if own:
                equation[("own", total)] = 1
                true[("own", total)] = own
            equations.append(equation)
    return withheld, true, equations


def test_no_combination_of_published_enterprise_counts_gives_a_small_one_away(con):
    """The enterprise shares' counts, with their identities (numerator + complement = denominator,
    denominator + not reported = the enterprises in scope, the same 100+ enterprises for both 100+
    shares) and the regions: solved together, they fix no count of 1 to k - 1 enterprises - published
    or not: a complement, the enterprises in scope, a region's own. With the small counts alone
    withheld, they do."""
    withheld, true, equations = _enterprise_share_equations(con)
    assert any(m[-1] in ("C", "H", "E") and 1 <= v < K for m, v in true.items()), "small unpublished counts"
    assert _small_rows_given_away(withheld, true, equations) == []
    primary, _, _ = _enterprise_share_equations(con, "primary")
    assert _small_rows_given_away(primary, true, equations), "the audit had something to do"
    # and the bounds: a listed count withheld is at least 1 (a numerator only when its denominator is
    # shown and not 0: the mart hides a numerator with its denominator, a zero too, and shows none
    # where not collected), a complement, those in scope or a region's own at least 0 - nothing
    # small is pinned to one value
    unknown = {m for e in equations for m in e if m[0] == "own" or withheld[m]}

    def shown_positive(denominator: tuple) -> bool:
        return not withheld[denominator] and true[denominator] > 0

    lower = {
        m: 1
        for m in unknown
        if m[0] != "own" and (m[-1] in ("D", "R") or (m[-1] == "N" and shown_positive((*m[:3], "D"))))
    }
    small = [m for m in unknown if 1 <= true[m] < K]
    assert pinned_by_bounds(equations, true, unknown, lower, small) == set()
    assert scalar(
        con,
        """select count(*) from staging.int_statistics_cells_audited
           where table_name = 'enterprise_shares' and suppression = 'audit'""",
    )


def _wages_shown_as_quartiles(con, quartiles_from: str) -> list:
    """Withheld single-cell wage rows (their mean is that cell's average wage) whose wage a published
    row containing the cell - same year and grade, a region at or above it, its occupation or '_T' -
    shows as a quartile. ``quartiles_from``: the mart (what is published) or the true table."""
    withheld = rows(
        con,
        """select w.year, w.region_code, w.occupation_key, w.skill_grade_code, w.mean_wage
           from staging.int_wage_cells_summarised w
           inner join staging.int_statistics_cells_audited a on a.table_name = 'wages' and a.cell_id = w.cell_id
           where a.is_suppressed and w.n_cells = 1""",
    )
    column = {"mart": "{}_monthly_wage_yuan", "true": "w.{}_wage"}[quartiles_from]
    quartiles = ", ".join(column.format(q) for q in ("p25", "median", "p75"))
    published = rows(
        con,
        f"""select w.year, w.region_code, w.occupation_key, w.skill_grade_code, {quartiles}
            from staging.int_wage_cells_summarised w
            inner join marts.fct_wage_quantile m on m.wage_quantile_id = w.cell_id
            where not m.is_suppressed""",
    )
    ancestors = defaultdict(set)
    for region, ancestor in rows(con, "select region_code, ancestor_code from marts.bridge_region_ancestor"):
        ancestors[region].add(ancestor)
    return [
        (cell, row)
        for cell in withheld
        for row in published
        if row[0] == cell[0] and row[3] == cell[3] and row[1] in ancestors[cell[1]] and row[2] in (cell[2], "_T")
        and cell[4] in row[4:]
    ]  # fmt: skip


def test_no_published_quartile_shows_a_withheld_cells_wage(con):
    """A quartile is a cell's average wage (or the mean of two): a published row's quartile taken from a
    cell whose own row is withheld is null, so no withheld cell's wage is shown as one. Unmasked, the
    demo's quartiles show 9 (e.g. a withheld technician welders' cell's 7,114 yuan as the lower quartile
    of all technicians of its prefecture)."""
    assert _wages_shown_as_quartiles(con, "mart") == []
    assert _wages_shown_as_quartiles(con, "true"), "the rule had something to do"
    assert scalar(
        con,
        """select count(*) from marts.fct_wage_quantile
           where not is_suppressed and (p25_monthly_wage_yuan is null or p75_monthly_wage_yuan is null)""",
    )


def test_the_audited_marts_show_the_true_counts_where_published(con):
    """Each mart row is its true row, null exactly where withheld."""
    for mart, id_column, true_table, _, value, persons, _ in AUDITED_TABLES.values():
        shown = rows(
            con,
            f"""select count(*), count(*) filter (where m.is_suppressed),
                       count(*) filter (where not m.is_suppressed and m.{value} = t.{value}
                                        and m.{persons} = t.{persons})
                from marts.{mart} m inner join staging.{true_table} t on m.{id_column} = t.cell_id""",
        )[0]
        assert shown[0] == scalar(con, f"select count(*) from staging.{true_table}"), mart
        assert shown[2] == shown[0] - shown[1], mart


def test_wage_quartiles_are_ordered_and_the_mean_is_headcount_weighted(con):
    published = rows(
        con,
        """select year, skill_grade_code, n_workers, mean_monthly_wage_yuan, p25_monthly_wage_yuan,
                  median_monthly_wage_yuan, p75_monthly_wage_yuan
           from marts.fct_wage_quantile where region_code = '000000' and occupation_code = '_T'""",
    )
    assert len(published) >= 10
    cells: dict[tuple[int, str], list[tuple[float, int]]] = defaultdict(list)
    for year, grade, wage, headcount in rows(
        con,
        """select year, skill_grade_code, monthly_wage_yuan, headcount
           from staging.stg_microdata__wages where headcount > 0""",
    ):
        cells[(year, grade)].append((wage, headcount))
    for year, grade, n_workers, mean, p25, median, p75 in published:
        pairs = sorted(cells[(year, grade)])
        total = sum(h for _, h in pairs)
        assert n_workers == total
        assert mean == pytest.approx(sum(w * h for w, h in pairs) / total)
        assert p25 <= median <= p75
        # the median of the list in which each cell average is repeated headcount times
        expanded = [w for w, h in pairs for _ in range(h)]
        middle = len(expanded) // 2
        plain_median = expanded[middle] if len(expanded) % 2 else (expanded[middle - 1] + expanded[middle]) / 2
        assert median == pytest.approx(plain_median), (year, grade)


# ---- survey --------------------------------------------------------------------------------------


def test_survey_estimates_have_positive_se_and_an_interval_around_them(con):
    published = rows(
        con,
        """select estimate_type, n_unweighted, estimate, standard_error, ci_lower, ci_upper, margin_of_error
           from marts.fct_survey_estimate where not is_suppressed""",
    )
    assert len(published) > 50
    for estimate_type, n, estimate, se, lower, upper, margin in published:
        assert n >= MIN_BASE
        assert se > 0
        assert lower <= estimate <= upper
        assert margin == pytest.approx(Z * se)
        if estimate_type == "proportion":
            assert 0 <= lower <= estimate <= upper <= 1
        else:
            assert upper - lower == pytest.approx(2 * margin)


def test_survey_estimates_below_the_minimum_base_are_suppressed(con):
    suppressed = rows(
        con,
        """select n_unweighted, estimate, standard_error, ci_lower, ci_upper, sum_weights
           from marts.fct_survey_estimate where is_suppressed""",
    )
    assert suppressed, "the demo's prefecture × group cells have fewer than 30 respondents"
    for n, *figures in suppressed:
        assert n < MIN_BASE and figures == [None] * 5
    assert scalar(con, f"select count(*) from marts.fct_survey_estimate where n_unweighted < {MIN_BASE} "
                       "and not is_suppressed") == 0  # fmt: skip


def test_survey_estimate_matches_an_independent_computation(con):
    """The national share with a written contract and mean income, recomputed in Python from staging."""
    answers = rows(
        con,
        """select design_weight, monthly_income_yuan, has_written_contract
           from staging.stg_microdata__survey_responses""",
    )
    for measure, values in (
        ("monthly_income", [(w, income) for w, income, _ in answers if income is not None]),
        ("has_written_contract", [(w, float(flag)) for w, _, flag in answers if flag is not None]),
    ):
        n = len(values)
        total = sum(w for w, _ in values)
        mean = sum(w * y for w, y in values) / total
        se = math.sqrt(n / (n - 1) * sum((w * (y - mean)) ** 2 for w, y in values)) / total
        published = rows(
            con,
            """select n_unweighted, sum_weights, estimate, standard_error from marts.fct_survey_estimate
               where region_code = '000000' and worker_group_code = '_T' and measure_code = ?""",
            measure,
        )
        assert published == [(n, pytest.approx(total), pytest.approx(mean), pytest.approx(se))], measure


def test_survey_highlights_print_margins_or_the_suppression_notice(con):
    highlights = rows(
        con,
        """select h.highlight_zh, h.is_suppressed, h.estimate_display, e.estimate, e.estimate_type
           from marts.rpt_survey_highlights as h
           join marts.fct_survey_estimate as e using (survey_estimate_id)""",
    )
    assert len(highlights) == scalar(con, "select count(*) from marts.fct_survey_estimate")
    for text, suppressed, shown, estimate, estimate_type in highlights:
        if suppressed:
            assert "不予发布" in text and shown is None
        else:
            assert "±" in text and "95%置信区间" in text and "样本量 n=" in text
            assert shown == pytest.approx(estimate * (100 if estimate_type == "proportion" else 1))


def test_the_data_dictionary_documents_the_new_marts(home):
    docs = (home / "warehouse" / "docs" / "dbt" / "index.html").read_text(encoding="utf-8")
    for model in ("fct_skill_grade_pyramid", "fct_survey_estimate", "rpt_survey_highlights", "fct_wage_quantile"):
        assert model in docs
    assert (home / "warehouse" / "exports" / "fct_survey_estimate.parquet").exists()
