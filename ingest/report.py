"""The annual monitoring report (年度监测报告, the "blue book") of one region, from the published marts.

    build_report(paths, "530700", 2025)   → REFORM_HOME/reports/530700_2025.html
    build_pdf(html_path)                  → the same report as PDF (headless Chromium, offline)
    regenerate_changed_reports(paths)     → the reports of the regions whose data changed in the
                                            latest release (and of their ancestors), for the years
                                            affected: what the nightly DAG runs after publish

The HTML is one self-contained file: CSS inline, charts as inline SVG (ingest/charts.py), no script,
font file or link, so it opens offline and prints as it shows. Labels are Chinese. Every figure is
read from the published warehouse (read-only, one connection per report): marts.rpt_region_scorecard,
fct_target_progress, rpt_completeness_by_region/_by_unit, fct_reporting_completeness, the statistics
and survey marts (fct_skill_grade_pyramid, fct_worker_share, fct_survey_estimate: a section says
"本仓库暂无" when its mart is absent) and audit.*. Headline figures sit in elements with a stable
``data-metric`` name and the exact value in ``data-value``, so a test (or a reader) can check them
against SQL.

Years. Target statuses are the scorecard's for the report year (assessed with the data of the years
up to it); the per-target table is the current assessment (fct_target_progress, as of its
``as_of_date``, which the report prints) - the same as the report year's as long as no figure of a
later year has arrived. Rosters and surveys describe the year they were taken: when the report year
has none, the nearest earlier (else later) year is used, and the report says so.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ingest import charts, lake, warehouse
from ingest.config import SHANGHAI, WAREHOUSE_FILE_NAME, Paths

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "report_templates"
TEMPLATE_NAME = "annual_report.html.j2"

# target status (fct_target_progress.status) → label and colour, in the order charts and legends show them
STATUSES: tuple[tuple[str, str, str], ...] = (
    ("achieved", "达成", "#1b7f3b"),
    ("on_track", "按期推进", "#7cb342"),
    ("at_risk", "存在风险", "#e0a100"),
    ("off_track", "滞后", "#c62828"),
    ("no_data", "无数据", "#9aa5b1"),
    ("target_masked", "数据保密", "#6a5acd"),
)
STATUS_LABELS = {code: label for code, label, _ in STATUSES}
# an off-track target that was overshot (=, 约 or between) is not lagging: it is labelled by its reason
REASON_LABELS = {"exceeded": "偏离目标"}
WORST_FIRST = {"off_track": 0, "at_risk": 1, "on_track": 2, "achieved": 3, "no_data": 4, "target_masked": 5}
STATUS_COLORS = {code: color for code, _, color in STATUSES}
SCORECARD_COLUMNS = {
    "achieved": "n_achieved",
    "on_track": "n_on_track",
    "at_risk": "n_at_risk",
    "off_track": "n_off_track",
    "no_data": "n_no_data",
    "target_masked": "n_target_masked",
}
STATUS_REASONS = {
    "met": "已达到目标",
    "not_met": "本年度未达到",
    "exceeded": "超出目标值",
    "deadline_missed": "期限已到未达成",
    "implausible_actual": "比率超出0–100%：分子与分母数据不一致",
    "progress_ratio": "按进度比评估",
    "target_masked": "目标值保密",
    "actual_masked": "实际值保密",
    "no_actual": "暂无实际值",
    "relative_target": "相对目标，无法量化",
    "no_trend": "数据不足以判断趋势",
    "not_started": "规划期尚未开始",
}
PILLAR_ORDER = ("ideology", "rights_status", "contribution", "skills", "growth")
COMPARATORS = {">=": "≥", "<=": "≤", "=": "=", "~": "约", ">": ">", "<": "<"}
QUARANTINE_REASONS = {
    "unknown_indicator": "指标代码不在目录中",
    "unknown_unit": "填报单位不在名录中",
    "unknown_region": "行政区划代码无效",
    "bad_period": "报告期无法识别",
    "period_out_of_calendar": "报告期超出范围",
    "not_a_number": "数值无法识别",
    "negative_value": "出现负数",
    "out_of_range": "数值超出范围",
    "duplicate_row": "重复行",
    "unit_mismatch": "计量单位不符",
    "missing_field": "必填项缺失",
    "missing_column": "缺少必需列",
    "bad_date": "日期无效",
    "bad_id_number": "身份证号码无效",
    "unknown_grade": "技能等级不在目录中",
    "bad_credit_code": "统一社会信用代码无效",
    "unknown_industry": "行业代码不在目录中",
    "unknown_ownership": "登记注册类型不在目录中",
    "malformed_row": "行格式错误",
    "bad_encoding": "含无法识别的字符编码",
    "unknown_group": "人员类别不在目录中",
    "bad_flag": "是否项无法识别",
    "bad_weight": "调查权重无效",
    "bad_occupation_code": "职业分类代码无效",
    "bad_year": "年份无效",
    "unknown_title": "工匠称号不在目录中",
    "part_exceeds_whole": "分项金额超过总额",
}
SOURCE_KINDS = {
    "submissions": "单位报送表",
    "enterprises": "企业名录",
    "workers": "职工电子档案",
    "trainings": "培训记录",
    "certifications": "技能等级认定",
    "wages": "工资数据",
    "survey_responses": "抽样调查问卷",
}
MAX_DETAIL_ROWS = 40
CHART_WIDTH = 900  # the page's text column in CSS pixels: charts print at 1:1, 12 px labels


class ReportError(ValueError):
    """The report cannot be built as asked (no warehouse, unknown region, a year without data)."""


# ------------------------------------------------------------------------------------------ reading


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    """Columns of ``schema.table`` in the opened warehouse (empty when it does not exist)."""
    return set(lake.table_columns(con, schema, table))


def _has(con: duckdb.DuckDBPyConnection, schema: str, table: str, needed: set[str]) -> str | None:
    """None when ``schema.table`` has the ``needed`` columns, else why the section is unavailable."""
    columns = _columns(con, schema, table)
    if not columns:
        return f"本仓库暂无 {schema}.{table}（not available in this warehouse）"
    missing = sorted(needed - columns)
    return f"{schema}.{table} 缺少列 {', '.join(missing)}" if missing else None


def _nearest_year(available: Sequence[int], year: int) -> int | None:
    """``year`` when available, else the latest earlier year, else the earliest later one."""
    if year in available:
        return year
    earlier = [y for y in available if y < year]
    return max(earlier) if earlier else min(available, default=None)


SUBTREE = "select region_code from marts.bridge_region_ancestor where ancestor_code = ?"


def region_info(con: duckdb.DuckDBPyConnection, region_code: str) -> dict[str, Any]:
    found = _rows(
        con,
        """
        select r.region_code, r.name_zh, r.level,
               list(a.name_zh order by b.distance desc) filter (where a.level <> 'national') as path
        from marts.dim_region as r
        join marts.bridge_region_ancestor as b on b.region_code = r.region_code
        join marts.dim_region as a on a.region_code = b.ancestor_code
        where r.region_code = ?
        group by all
        """,
        [region_code],
    )
    if not found:
        examples = ", ".join(
            f"{code} ({name})"
            for code, name in con.execute(
                "select region_code, name_zh from marts.dim_region where region_code in "
                "(select distinct region_code from marts.fct_target_progress) order by 1 limit 5"
            ).fetchall()
        )
        raise ReportError(f"no region {region_code!r} in marts.dim_region (GB/T 2260 six-digit code); e.g. {examples}")
    return found[0]


def data_years(con: duckdb.DuckDBPyConnection, region_code: str) -> list[int]:
    """Years with a scorecard row or reporting obligations for the region (the years a report can cover)."""
    return [
        year
        for (year,) in con.execute(
            "select distinct year from marts.rpt_region_scorecard where region_code = ? "
            "union select distinct period_year from marts.rpt_completeness_by_region where region_code = ? order by 1",
            [region_code, region_code],
        ).fetchall()
    ]


def release_of(con: duckdb.DuckDBPyConnection, paths: Paths | None = None) -> str:
    """The release the report reads: the published release (by inode), else the warehouse's own run id."""
    if paths is not None:
        current = warehouse.current_release(paths)
        if current:
            return current
    if _columns(con, "audit", "validation_results"):
        run_id = con.execute(f"select {lake.LATEST_VALIDATION_RUN}").fetchone()[0]
        if run_id:
            return str(run_id)
    return "未知"


def targets_section(con: duckdb.DuckDBPyConnection, region_code: str, year: int) -> dict[str, Any]:
    """Status counts by pillar for the year (scorecard) and every target's current assessment."""
    pillars = {
        code: name
        for code, name in con.execute("select distinct pillar_code, pillar_zh from marts.dim_indicator").fetchall()
    }
    order = {code: i for i, code in enumerate([*PILLAR_ORDER, *sorted(set(pillars) - set(PILLAR_ORDER))])}
    scorecard = _rows(
        con,
        f"""
        select pillar_code, n_targets, {", ".join(SCORECARD_COLUMNS.values())}, mean_pct_achieved
        from marts.rpt_region_scorecard
        where region_code = ? and year = ? and n_targets > 0
        """,
        [region_code, year],
    )
    scorecard.sort(key=lambda r: order.get(str(r["pillar_code"]), 99))
    for row in scorecard:
        row["pillar_zh"] = pillars.get(str(row["pillar_code"]), row["pillar_code"])
    totals = {status: sum(int(r[column]) for r in scorecard) for status, column in SCORECARD_COLUMNS.items()}
    totals["total"] = sum(int(r["n_targets"]) for r in scorecard)
    targets = _rows(
        con,
        """
        select p.target_id, p.pillar_code, i.pillar_zh, i.name_zh as indicator_name, p.comparator,
               p.target_value, p.target_value_high, p.unit, t.value_text, p.target_status, p.deadline_year,
               p.recurrence, p.actual_value, p.actual_period_id, p.actual_obs_status, p.pct_achieved,
               p.status, p.status_reason, p.as_of_date, p.is_conflicting, p.source_section
        from marts.fct_target_progress as p
        join marts.dim_indicator as i using (indicator_code)
        left join marts.fct_target as t using (target_id)
        where p.region_code = ?
        """,
        [region_code],
    )
    targets.sort(
        key=lambda t: (order.get(str(t["pillar_code"]), 99), WORST_FIRST.get(str(t["status"]), 9), str(t["target_id"]))
    )
    as_of = targets[0]["as_of_date"] if targets else None
    chart = (
        Markup(
            charts.stacked_bar_chart(
                [str(r["pillar_zh"]) for r in scorecard],
                [charts.Segment(code, label, color) for code, label, color in STATUSES],
                [{status: int(r[column]) for status, column in SCORECARD_COLUMNS.items()} for r in scorecard],
                title=f"{year}年各领域目标状态",
                width=CHART_WIDTH,
            )
        )
        if scorecard
        else None
    )
    by_pillar: list[dict[str, Any]] = []
    for target in targets:
        if not by_pillar or by_pillar[-1]["pillar_code"] != target["pillar_code"]:
            by_pillar.append({"pillar_code": target["pillar_code"], "pillar_zh": target["pillar_zh"], "targets": []})
        by_pillar[-1]["targets"].append(target)
    return {
        "scorecard": scorecard,
        "totals": totals,
        "by_pillar": by_pillar,
        "n_targets": len(targets),
        "as_of_date": as_of,
        "chart": chart,
    }


def completeness_section(con: duckdb.DuckDBPyConnection, region_code: str, year: int) -> dict[str, Any]:
    """Completeness and timeliness of the year's due submissions in the region and below, by unit."""
    overall = _rows(
        con,
        "select * from marts.rpt_completeness_by_region where region_code = ? and period_year = ?",
        [region_code, year],
    )
    units = _rows(
        con,
        f"""
        select reporting_unit_code, name_zh, n_expected, n_submitted, n_on_time, n_late, n_missing,
               completeness_rate, timeliness_rate, max_days_late
        from marts.rpt_completeness_by_unit
        where period_year = ? and region_code in ({SUBTREE})
        order by completeness_rate, timeliness_rate, reporting_unit_code
        """,
        [year, region_code],
    )
    overdue = _rows(
        con,
        f"""
        select c.reporting_unit_code, any_value(u.name_zh) as unit_name,
               count(*) filter (where not c.is_submitted) as n_missing,
               count(*) filter (where c.is_submitted and not c.is_on_time) as n_late,
               min(c.due_date) filter (where not c.is_submitted) as oldest_missing_due,
               max(c.days_late) as max_days_late,
               list(distinct c.period_id order by c.period_id) filter (where not c.is_submitted) as missing_periods,
               list(distinct i.name_zh order by i.name_zh) filter (where not c.is_submitted) as missing_indicators
        from marts.fct_reporting_completeness as c
        join marts.dim_reporting_unit as u using (reporting_unit_code)
        join marts.dim_indicator as i using (indicator_code)
        where c.is_due and c.period_year = ? and c.region_code in ({SUBTREE})
          and not (c.is_submitted and c.is_on_time)
        group by c.reporting_unit_code
        order by n_missing desc, n_late desc, c.reporting_unit_code
        """,
        [year, region_code],
    )
    chart = (
        Markup(
            charts.bar_chart(
                [f"{u['name_zh']}" for u in units],
                [
                    charts.Series("完整率", [u["completeness_rate"] for u in units], "#3b6ea8"),
                    charts.Series("及时率", [u["timeliness_rate"] for u in units], "#e0a100"),
                ],
                title=f"{year}年各填报单位报送完整率与及时率",
                max_value=100.0,
                unit="%",
                width=CHART_WIDTH,
            )
        )
        if units
        else None
    )
    return {
        "overall": overall[0] if overall else None,
        "units": units,
        "overdue": overdue,
        "chart": chart,
    }


def trends_section(
    con: duckdb.DuckDBPyConnection, region_code: str, year: int, plan_start: int | None
) -> dict[str, Any]:
    """Each pillar's headline indicator (the scorecard's) over the plan period up to the report year."""
    first = plan_start if plan_start and plan_start <= year else year - 4
    rows = _rows(
        con,
        """
        select s.pillar_code, s.year, s.headline_indicator_code, s.headline_value, s.headline_unit,
               s.headline_obs_status, s.headline_is_full_year, i.name_zh as indicator_name, i.pillar_zh
        from marts.rpt_region_scorecard as s
        left join marts.dim_indicator as i on i.indicator_code = s.headline_indicator_code
        where s.region_code = ? and s.year between ? and ? and s.headline_indicator_code is not null
        order by s.pillar_code, s.year
        """,
        [region_code, first, year],
    )
    years = list(range(first, year + 1))
    series: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = series.setdefault(
            str(row["pillar_code"]),
            {
                "pillar_code": row["pillar_code"],
                "pillar_zh": row["pillar_zh"],
                "indicator_code": row["headline_indicator_code"],
                "indicator_name": row["indicator_name"],
                "unit": row["headline_unit"],
                "values": {},
                "masked": set(),
                "partial": set(),
            },
        )
        entry["values"][int(row["year"])] = row["headline_value"]
        if row["headline_obs_status"] == "masked":
            entry["masked"].add(int(row["year"]))
        elif row["headline_value"] is not None and row["headline_is_full_year"] is False:
            entry["partial"].add(int(row["year"]))  # a sum of the periods that arrived, not the year's
    ordered = [series[p] for p in [*PILLAR_ORDER, *sorted(set(series) - set(PILLAR_ORDER))] if p in series]
    for entry in ordered:
        values: dict[int, float | None] = entry["values"]
        entry["chart"] = Markup(
            charts.trend_chart(
                [(y, values.get(y)) for y in years],
                title=f"{entry['indicator_name']} {first}–{year}年",
                highlight=year,
                unit=str(entry["unit"] or ""),
                width=CHART_WIDTH / 2 - 30,
                height=120,
            )
        )
    shown = [e for e in ordered if any(v is not None for v in e["values"].values())]
    return {"years": years, "series": shown, "any_partial": any(e["partial"] for e in shown)}


def pyramid_section(con: duckdb.DuckDBPyConnection, region_code: str, year: int) -> dict[str, Any]:
    """The skill-grade pyramid of the region's workers (all industries), from the worker records."""
    missing = _has(
        con,
        "marts",
        "fct_skill_grade_pyramid",
        {
            "year",
            "region_code",
            "industry_section_code",
            "skill_grade_code",
            "skill_grade_name_zh",
            "grade_order",
            "n_workers",
            "is_suppressed",
        },
    )
    if missing:
        return {"available": False, "reason": missing}
    years = [
        y
        for (y,) in con.execute(
            "select distinct year from marts.fct_skill_grade_pyramid where region_code = ? order by 1", [region_code]
        ).fetchall()
    ]
    chosen = _nearest_year(years, year)
    if chosen is None:
        return {"available": False, "reason": "该地区暂无职工电子档案数据"}
    grades = _rows(
        con,
        """
        select skill_grade_code, skill_grade_name_zh, grade_order, is_high_skill, n_workers, is_suppressed
        from marts.fct_skill_grade_pyramid
        where region_code = ? and year = ? and industry_section_code = '_T'
        order by grade_order nulls last
        """,
        [region_code, chosen],
    )
    total = next((g for g in grades if g["skill_grade_code"] == "_T"), None)
    levels = [g for g in grades if g["skill_grade_code"] != "_T"]
    n_total = total["n_workers"] if total else None
    shares = []
    if _columns(con, "marts", "fct_worker_share") >= {
        "share_code",
        "share_name_zh",
        "share_pct",
        "year",
        "region_code",
    }:
        shares = _rows(
            con,
            """
            select share_code, share_name_zh, share_pct, numerator_count, denominator_count, is_suppressed
            from marts.fct_worker_share where region_code = ? and year = ? order by share_code
            """,
            [region_code, chosen],
        )
    palette = ["#9aa5b1", "#8fb8de", "#6a9fd0", "#3b6ea8", "#2f5d8f", "#e0a100", "#d17a00", "#c62828", "#8e1b1b"]
    chart = Markup(
        charts.pyramid_chart(
            [str(g["skill_grade_name_zh"]) for g in levels],
            [None if g["is_suppressed"] else g["n_workers"] for g in levels],
            title=f"{chosen}年技能等级结构",
            colors=palette[: max(len(levels), 1)],
            shares_of=float(n_total) if n_total else None,
            width=CHART_WIDTH,
        )
    )
    return {
        "available": True,
        "year": chosen,
        "levels": list(reversed(levels)),
        "total": n_total,
        "shares": shares,
        "chart": chart,
        "note": None if chosen == year else f"{year}年无职工电子档案，采用{chosen}年（最近可得年份）数据。",
    }


def survey_section(con: duckdb.DuckDBPyConnection, region_code: str, year: int) -> dict[str, Any]:
    """Survey estimates for the region with their margins of error (± z·SE, 95 %)."""
    missing = _has(
        con,
        "marts",
        "fct_survey_estimate",
        {
            "survey_year",
            "region_code",
            "worker_group_code",
            "measure_code",
            "measure_name_zh",
            "estimate_type",
            "unit",
            "n_unweighted",
            "estimate",
            "standard_error",
            "is_suppressed",
        },
    )
    if missing:
        return {"available": False, "reason": missing}
    has_moe = "margin_of_error" in _columns(con, "marts", "fct_survey_estimate")
    years = [
        y
        for (y,) in con.execute(
            "select distinct survey_year from marts.fct_survey_estimate where region_code = ? order by 1",
            [region_code],
        ).fetchall()
    ]
    chosen = _nearest_year(years, year)
    if chosen is None:
        return {"available": False, "reason": "该地区暂无抽样调查数据"}
    moe = "e.margin_of_error" if has_moe else "1.96 * e.standard_error"
    estimates = _rows(
        con,
        f"""
        select e.worker_group_code, coalesce(g.name_zh, '全体受访者') as group_name, e.measure_code,
               e.measure_name_zh, e.estimate_type, e.unit, e.n_unweighted, e.estimate, e.standard_error,
               {moe} as margin_of_error, e.is_suppressed
        from marts.fct_survey_estimate as e
        left join marts.dim_worker_group as g using (worker_group_code)
        where e.region_code = ? and e.survey_year = ?
        order by e.worker_group_code <> '_T', e.worker_group_code, e.measure_code
        """,
        [region_code, chosen],
    )
    for e in estimates:
        scale = 100.0 if e["estimate_type"] == "proportion" else 1.0
        e["display_unit"] = "%" if scale == 100.0 else str(e["unit"] or "")
        e["display_estimate"] = None if e["estimate"] is None else float(e["estimate"]) * scale
        e["display_moe"] = None if e["margin_of_error"] is None else float(e["margin_of_error"]) * scale
        e["decimals"] = 1 if scale == 100.0 or abs(float(e["estimate"] or 0)) < 100 else 0
    overall = [e for e in estimates if e["worker_group_code"] == "_T"]
    groups = [e for e in estimates if e["worker_group_code"] != "_T"]
    proportions = [e for e in overall if e["estimate_type"] == "proportion"]
    chart = (
        Markup(
            charts.interval_chart(
                [str(e["measure_name_zh"]) for e in proportions],
                [e["display_estimate"] for e in proportions],
                [e["display_moe"] for e in proportions],
                title=f"{chosen}年调查比例估计及95%置信区间",
                width=CHART_WIDTH,
            )
        )
        if proportions
        else None
    )
    return {
        "available": True,
        "year": chosen,
        "overall": overall,
        "groups": [e for e in groups if not e["is_suppressed"]],
        "n_groups_suppressed": sum(1 for e in groups if e["is_suppressed"]),
        "chart": chart,
        "note": None if chosen == year else f"{year}年未开展调查，采用{chosen}年（最近一次）调查结果。",
    }


def quality_section(con: duckdb.DuckDBPyConnection, region_code: str) -> dict[str, Any]:
    """What was refused at ingest or failed validation, per reporting unit in the region and below."""
    missing = _has(
        con,
        "audit",
        "unit_data_quality",
        {
            "reporting_unit_code",
            "name_zh",
            "region_code",
            "files_received",
            "files_rejected",
            "rows_quarantined",
            "rows_failing_critical_checks",
            "rows_with_warnings",
            "failed_rules",
        },
    )
    if missing:
        return {"available": False, "reason": missing}
    units = _rows(
        con,
        f"""
        select reporting_unit_code, name_zh, files_received, files_rejected, rows_received, rows_accepted,
               rows_quarantined, rows_failing_critical_checks, rows_with_warnings, failed_rules, last_received_at
        from audit.unit_data_quality
        where region_code in ({SUBTREE})
        order by rows_quarantined + rows_failing_critical_checks + rows_with_warnings + files_rejected desc,
                 reporting_unit_code
        """,
        [region_code],
    )
    totals = {
        key: sum(int(u[key] or 0) for u in units)
        for key in (
            "files_received",
            "files_rejected",
            "rows_quarantined",
            "rows_failing_critical_checks",
            "rows_with_warnings",
        )
    }
    in_region = f"""
        from audit.quarantine as q
        join audit.ingest_files as f using (file_sha256)
        join marts.dim_reporting_unit as u on u.reporting_unit_code = f.reporting_unit_code
        where u.region_code in ({SUBTREE})
    """
    reasons = _rows(
        con,
        f"select q.reason_code, count(*) as n_rows, count(distinct q.file_sha256) as n_files {in_region} "
        "group by 1 order by 2 desc, 1",
        [region_code],
    )
    for r in reasons:
        r["label"] = QUARANTINE_REASONS.get(str(r["reason_code"]), str(r["reason_code"]))
    quarantined = _rows(
        con,
        f"""
        select f.reporting_unit_code, u.name_zh as unit_name, q.file_name, q.source_row_number, q.reason_code,
               q.message {in_region}
        order by f.reporting_unit_code, q.file_name, q.source_row_number
        limit {MAX_DETAIL_ROWS}
        """,
        [region_code],
    )
    failures: list[dict[str, Any]] = []
    if _columns(con, "audit", "validation_failures") and _columns(con, "audit", "validation_results"):
        failures = _rows(
            con,
            f"""
            select v.reporting_unit_code, u.name_zh as unit_name, v.severity, v.rule, count(*) as n_rows,
                   string_agg(distinct v.period_id, '、' order by v.period_id) as periods
            from audit.validation_failures as v
            join marts.dim_reporting_unit as u using (reporting_unit_code)
            where v.run_id = {lake.LATEST_VALIDATION_RUN} and u.region_code in ({SUBTREE})
            group by all
            order by v.severity, n_rows desc, v.reporting_unit_code
            """,
            [region_code],
        )
    unattributed = _rows(
        con,
        """
        select f.source_kind, count(distinct f.file_sha256) filter (where f.status = 'rejected') as files_rejected,
               count(q.file_sha256) as rows_quarantined
        from audit.ingest_files as f
        left join audit.quarantine as q using (file_sha256)
        where f.reporting_unit_code is null and (f.status = 'rejected' or q.file_sha256 is not null)
        group by 1 order by 1
        """,
    )
    for u in unattributed:
        u["label"] = SOURCE_KINDS.get(str(u["source_kind"]), str(u["source_kind"]))
    return {
        "available": True,
        "unattributed": unattributed,
        "units": [
            u for u in units if u["files_received"] or u["rows_with_warnings"] or u["rows_failing_critical_checks"]
        ],
        "silent_units": [u for u in units if not u["files_received"]],
        "totals": totals,
        "reasons": reasons,
        "quarantined": quarantined,
        "failures": failures,
    }


def collect(
    con: duckdb.DuckDBPyConnection,
    region_code: str,
    year: int,
    *,
    release: str,
    generated_at: datetime,
) -> dict[str, Any]:
    """Everything the report shows, read from the warehouse ``con`` (read-only)."""
    region = region_info(con, region_code)
    years = data_years(con, region_code)
    if year not in years:
        shown = f"{years[0]}–{years[-1]}" if years else "none"
        raise ReportError(
            f"no monitoring data for {region['name_zh']} ({region_code}) in {year}: "
            f"no scorecard or reporting obligations that year (years with data: {shown})"
        )
    plan_start = con.execute(
        "select min(plan_start_year) from marts.fct_target_progress where region_code = ?", [region_code]
    ).fetchone()[0]
    return {
        "region": region,
        "year": year,
        "release": release,
        "generated_at": generated_at,
        "targets": targets_section(con, region_code, year),
        "completeness": completeness_section(con, region_code, year),
        "trends": trends_section(con, region_code, year, plan_start),
        "pyramid": pyramid_section(con, region_code, year),
        "survey": survey_section(con, region_code, year),
        "quality": quality_section(con, region_code),
        "statuses": [{"code": c, "label": lbl, "color": col} for c, lbl, col in STATUSES],
    }


# ---------------------------------------------------------------------------------------- rendering


def fmt(value: object, decimals: int = 0, suffix: str = "") -> str:
    """A figure as the report prints it: thousands separators, fixed decimals; – for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) and decimals == 0:
        return f"{value:,}{suffix}"
    return f"{float(value):,.{decimals}f}{suffix}"


def metric(name: str, value: object, decimals: int = 0, suffix: str = "") -> Markup:
    """``<span data-metric=… data-value=…>`` around a headline figure: the exact value for tests and readers."""
    exact = "" if value is None else repr(float(value)) if isinstance(value, float) else str(value)
    return Markup('<span class="metric" data-metric="{}" data-value="{}">{}</span>').format(
        name, exact, fmt(value, decimals, suffix)
    )


def target_text(target: dict[str, Any]) -> str:
    """The target as the plan states it: ≥ 20 个, 45–50 %, or the masked text with 数据保密."""
    if target["target_status"] == "masked" or target["target_value"] is None:
        text = str(target["value_text"] or "—")
        return f"{text}（数据保密）" if target["target_status"] == "masked" else text
    unit = str(target["unit"] or "")
    if target["comparator"] == "between" and target["target_value_high"] is not None:
        return (
            f"{fmt(target['target_value'], _decimals(target['target_value']))}–"
            f"{fmt(target['target_value_high'], _decimals(target['target_value_high']))}{unit}"
        )
    symbol = COMPARATORS.get(str(target["comparator"] or ""), "")
    return f"{symbol} {fmt(target['target_value'], _decimals(target['target_value']))}{unit}".strip()


def _decimals(value: object) -> int:
    if value is None:
        return 0
    v = float(value)
    return 0 if v == int(v) else 1 if abs(v) >= 10 else 2


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        metric=metric,
        target_text=target_text,
        status_labels=STATUS_LABELS,
        reason_labels=REASON_LABELS,
        status_colors=STATUS_COLORS,
        status_reasons=STATUS_REASONS,
    )
    env.filters.update(fmt=fmt, decimals=_decimals)
    return env


def render(context: dict[str, Any]) -> str:
    """The report's HTML from :func:`collect`'s data (pure)."""
    return _environment().get_template(TEMPLATE_NAME).render(**context)


OFFLINE_VIOLATIONS = (
    re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?!#|data:)[^"'\s>]""", re.I),
    re.compile(r"url\(\s*['\"]?\s*(?!#|data:)", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"<\s*(?:script|link|iframe|object|embed|base)\b", re.I),
)


def offline_violations(html: str) -> list[str]:
    """Anything in ``html`` that could make a browser fetch: a src/href/url() other than ``#…`` or
    ``data:``, ``@import``, or a script, link, iframe, object, embed or base element."""
    found: list[str] = []
    for pattern in OFFLINE_VIOLATIONS:
        found += [html[max(m.start() - 30, 0) : m.end() + 50] for m in pattern.finditer(html)]
    return found


# -------------------------------------------------------------------------------------------- files


def report_path(paths: Paths, region_code: str, year: int) -> Path:
    return paths.reports / f"{region_code}_{year}.html"


@contextlib.contextmanager
def _open(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    if not database.exists():
        raise ReportError(f"no published warehouse at {database}; run `reform build` first")
    with contextlib.closing(duckdb.connect(str(database), read_only=True)) as con:
        yield con


def _write(
    con: duckdb.DuckDBPyConnection, paths: Paths, region_code: str, year: int, release: str, now: datetime | None
) -> Path:
    context = collect(con, region_code, year, release=release, generated_at=now or datetime.now(SHANGHAI))
    html = render(context)
    problems = offline_violations(html)
    if problems:  # a bug in the template or a chart, never the reader's fault
        raise ReportError(f"the report would not be self-contained: {problems[:3]}")
    target = report_path(paths, region_code, year)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, target)  # readers never see half a report
    return target


def build_report(paths: Paths, region_code: str, year: int, *, now: datetime | None = None) -> Path:
    """Write ``REFORM_HOME/reports/<region>_<year>.html`` from the published warehouse; returns its path.

    Raises :class:`ReportError` when there is no published warehouse, the region is unknown, or the
    region has no monitoring data in ``year``.
    """
    with _open(paths.published) as con:
        return _write(con, paths, region_code, year, release_of(con, paths), now)


def build_pdf(html_path: Path) -> Path:
    """Print a report to PDF beside it (``…/530700_2025.pdf``) with headless Chromium, offline."""
    return print_pdf(Path(html_path))


def latest_full_year(paths: Paths) -> int:
    """The last calendar year before the monitoring as-of date: the default year of a report."""
    with _open(paths.published) as con:
        as_of = con.execute("select max(as_of_date) from marts.fct_target_progress").fetchone()[0]
    return (as_of.year if as_of else datetime.now(SHANGHAI).year) - 1


# ------------------------------------------------------------------------------- nightly regeneration


def previous_release(paths: Paths, run_id: str | None = None) -> str | None:
    """The kept release just before ``run_id`` (default: the published one), or None."""
    releases = warehouse.list_releases(paths)  # newest first
    current = run_id or warehouse.current_release(paths)
    if current not in releases:
        return releases[0] if releases and run_id is None else None
    later = releases[releases.index(current) + 1 :]
    return later[0] if later else None


CHANGED_KEYS = """
with
now_obs as (
    select indicator_code, region_code, period_id, reporting_unit_code, value, obs_status
    from marts.fct_indicator_observation where is_current
),
before_obs as (
    select indicator_code, region_code, period_id, reporting_unit_code, value, obs_status
    from prev.marts.fct_indicator_observation where is_current
),
changed as (
    (select * from now_obs except select * from before_obs)
    union all
    (select * from before_obs except select * from now_obs)
),
new_files as (
    select f.reporting_unit_code, f.period_id
    from audit.ingest_files as f
    anti join prev.audit.ingest_files as g using (file_sha256)
    where f.period_id is not null
),
keys as (
    select region_code, period_id from changed
    union
    select u.region_code, n.period_id from new_files as n join marts.dim_reporting_unit as u using (reporting_unit_code)
)
select distinct b.ancestor_code, p.year
from keys as k
join marts.dim_period as p using (period_id)
join marts.bridge_region_ancestor as b using (region_code)
"""

ALL_KEYS = """
select distinct b.ancestor_code, p.year
from marts.fct_indicator_observation as o
join marts.dim_period as p using (period_id)
join marts.bridge_region_ancestor as b using (region_code)
where o.is_current
"""


def changed_reports(con: duckdb.DuckDBPyConnection, previous: Path | None) -> set[tuple[str, int]]:
    """(region, year) pairs whose report may have changed since the warehouse file ``previous``.

    A region-year changed when a current observation of the region or any region below it, for a
    period of that year, was added, corrected, masked or removed, or a file of one of their units
    for such a period arrived (it may have been quarantined). ``previous`` None: every region-year
    with observations.
    """
    if previous is None:
        return {(str(r), int(y)) for r, y in con.execute(ALL_KEYS).fetchall()}
    quoted = str(previous).replace("'", "''")
    con.execute(f"attach '{quoted}' as prev (read_only)")
    try:
        return {(str(r), int(y)) for r, y in con.execute(CHANGED_KEYS).fetchall()}
    finally:
        con.execute("detach prev")


def regenerate_changed_reports(paths: Paths, since_release: str | None = None) -> list[Path]:
    """Rebuild the reports of the regions whose data changed since ``since_release``; their paths.

    ``since_release`` is the release the reports were last built from (default: the release before
    the published one). Rebuilt: every (region, year) of :func:`changed_reports` - the changed
    regions and all their ancestors, for the years of the changed periods - that has monitoring
    data, plus every existing report of those regions for a later year (its trends and cumulative
    progress include the changed year). When ``since_release`` is no longer kept, everything is
    rebuilt. Regions the warehouse cannot report on are skipped with a log line, not an error.
    """
    since = since_release if since_release is not None else previous_release(paths)
    previous = paths.releases / since / WAREHOUSE_FILE_NAME if since else None
    if previous is not None and not previous.exists():
        log.warning("release %s is no longer kept; rebuilding every report", since)
        previous = None
    written: list[Path] = []
    with _open(paths.published) as con:
        keys = changed_reports(con, previous)
        existing = {
            (m.group(1), int(m.group(2)))
            for p in (paths.reports.glob("*.html") if paths.reports.exists() else [])
            if (m := re.fullmatch(r"(\d{6})_(\d{4})\.html", p.name))
        }
        keys |= {(region, year) for region, year in existing if any(r == region and y <= year for r, y in keys)}
        release = release_of(con, paths)
        reportable: dict[str, list[int]] = {}
        for region_code, year in sorted(keys):
            years = reportable.setdefault(region_code, data_years(con, region_code))
            if year not in years:
                log.info("no report for %s %s: no monitoring data that year", region_code, year)
                continue
            written.append(_write(con, paths, region_code, year, release, None))
    return written


# ------------------------------------------------------------------------------------ headless Chromium

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_PACKAGE = "chromium"
CJK_FONT_PACKAGE = "fonts-wqy-zenhei"
# what a report needs from the browser; never the network (see chromium_command)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
)
# cut the network off: every proxied request goes to a closed port, every host name fails to resolve
OFFLINE_FLAGS = ("--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND")


class ChromiumError(RuntimeError):
    """Chromium is missing and cannot be installed here, or it failed to print or load a page."""


def find_chromium() -> Path | None:
    """The browser binary: ``$REFORM_CHROMIUM``, Debian's ``/usr/bin/chromium``, or one on ``PATH``."""
    override = os.environ.get("REFORM_CHROMIUM")
    if override:
        return Path(override) if os.access(override, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    found = next(filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))), None)
    return Path(found) if found else None


def has_cjk_font() -> bool:
    """Whether fontconfig knows a font with Chinese glyphs (without one, a PDF shows empty boxes)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    listed = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


def ensure_chromium(timed: bool = False) -> Path | tuple[Path, float]:
    """Find Chromium, installing Debian's package (and a Chinese font) with apt-get when missing.

    Idempotent: installs nothing when both are present. Needs root to install. With ``timed``, returns
    ``(browser, seconds spent installing)``.
    """
    missing = [
        package
        for package, present in ((CHROMIUM_PACKAGE, find_chromium() is not None), (CJK_FONT_PACKAGE, has_cjk_font()))
        if not present
    ]
    started = time.monotonic()
    if missing:
        if os.geteuid() != 0:
            raise ChromiumError(
                f"missing {', '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}` "
                "(or set REFORM_CHROMIUM to a Chromium or Chrome binary)"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"]
        result = subprocess.run([*install, *missing], env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:  # stale or missing package lists: refresh once, then retry
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
            result = subprocess.run([*install, *missing], env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ChromiumError(
                f"apt-get install {' '.join(missing)} failed:\n{(result.stdout + result.stderr)[-3000:]}"
            )
    browser = find_chromium()
    if browser is None:
        raise ChromiumError(f"installed {CHROMIUM_PACKAGE} but found no browser at {', '.join(CHROMIUM_CANDIDATES)}")
    return (browser, time.monotonic() - started if missing else 0.0) if timed else browser


@contextlib.contextmanager
def _profile_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="reform-chromium-") as folder:
        yield Path(folder)


def chromium_command(browser: Path, profile: Path, *extra: str, offline: bool = True) -> list[str]:
    """The headless command line: a fresh profile, no background traffic, and (default) no network."""
    return [str(browser), *CHROMIUM_FLAGS, *(OFFLINE_FLAGS if offline else ()), f"--user-data-dir={profile}", *extra]


def run_chromium(*extra: str, offline: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once with a new temporary profile; raises :class:`ChromiumError` on failure."""
    browser = ensure_chromium()
    with _profile_dir() as profile:
        command = chromium_command(browser, profile, *extra, offline=offline)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise ChromiumError(f"chromium did not finish in {timeout:.0f} s: {' '.join(command)}") from err
    if done.returncode != 0:
        raise ChromiumError(f"chromium exited with {done.returncode}: {done.stderr[-2000:]}")
    return done


def print_pdf(html_path: Path, pdf_path: Path | None = None) -> Path:
    """Print an HTML file to PDF with headless Chromium (offline); returns the PDF's path."""
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no report at {html_path}; run `reform report` first")
    pdf_path = Path(pdf_path or html_path.with_suffix(".pdf")).resolve()
    partial = pdf_path.with_name(f".{pdf_path.name}.partial")
    run_chromium("--no-pdf-header-footer", f"--print-to-pdf={partial}", html_path.as_uri())
    if not partial.exists() or partial.read_bytes()[:5] != b"%PDF-":
        raise ChromiumError(f"chromium wrote no PDF for {html_path}")
    os.replace(partial, pdf_path)
    return pdf_path


def dump_dom(html_path: Path, *extra: str) -> str:
    """The DOM of an HTML file after headless Chromium loaded it with the network cut off."""
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no file at {html_path}")
    return run_chromium("--dump-dom", *extra, html_path.as_uri()).stdout
