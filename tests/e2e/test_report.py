"""The annual report on the demo warehouse: self-contained, offline, and every headline figure is the marts'.

One demo warehouse for the module (generate --microdata → ingest --historical → build, in its own
REFORM_HOME, through the installed ``reform`` command). The report of 丽江市 (530700) for the latest full
year is rendered in-process, then loaded by headless Chromium (installed by ``scripts/chromium.py
install`` when missing) with the network cut off and a NetLog recording every request the
browser makes. The headline figures are read back from the DOM Chromium built (``--dump-dom``) and
compared with SQL on the marts. (The nightly regeneration of changed reports is tested in
test_bi_reader.py, beside the nightly build it follows.)
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from ingest import report, warehouse
from ingest.config import Paths
from tests.conftest import PROJECT_ROOT, run_reform

pytestmark = pytest.mark.slow

REGION = "530700"  # 丽江市: the plan with targets, county units below it


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> Paths:
    home = tmp_path_factory.mktemp("report") / "home"
    for args in (("generate", "--microdata"), ("ingest", "--consume", "--historical"), ("build",)):
        done = run_reform(*args, home=home)
        assert done.returncode == 0, f"reform {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return Paths.from_env(home)


@pytest.fixture(scope="module")
def year(paths) -> int:
    return report.latest_full_year(paths)


@pytest.fixture(scope="module")
def html_path(paths, year) -> Path:
    return report.build_report(paths, REGION, year)


@pytest.fixture(scope="module")
def browser() -> Path:
    """Debian's chromium, installed by the project's own script when missing (apt-get, about 10 s)."""
    script = [sys.executable, str(PROJECT_ROOT / "scripts" / "chromium.py")]
    if report.find_chromium() is None or not report.has_cjk_font():
        done = subprocess.run([*script, "install"], capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    found = subprocess.run([*script, "path"], capture_output=True, text=True, timeout=60, check=False)
    assert found.returncode == 0, found.stderr
    return Path(found.stdout.strip())


@pytest.fixture(scope="module")
def con(paths):
    connection = duckdb.connect(str(paths.published), read_only=True)
    yield connection
    connection.close()


class Metrics(HTMLParser):
    """data-metric → (data-value, text), data-target → data-status, from an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, tuple[str | None, str]] = {}
        self.statuses: dict[str, str] = {}
        self.unavailable: set[str] = set()
        self.partial: set[str] = set()
        self._open: list[tuple[str, str | None, list[str]]] = []
        self._target: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-metric" in a:
            self._open.append((str(a["data-metric"]), a.get("data-value"), []))
        if "data-target" in a:
            self._target = a["data-target"]
        if "data-status" in a and self._target:
            self.statuses[self._target] = str(a["data-status"])
        if "data-partial" in a:
            self.partial.add(str(a["data-partial"]))
        if "data-section-unavailable" in a:
            self.unavailable.add(str(a["data-section-unavailable"]))

    def handle_data(self, data: str) -> None:
        for _, _, texts in self._open:
            texts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._open:
            name, value, texts = self._open.pop()
            self.metrics[name] = (value, "".join(texts).strip())


def parse(html: str) -> Metrics:
    parser = Metrics()
    parser.feed(html)
    return parser


def page_requests(netlog: Path) -> list[str]:
    """URLs the page asked the network for (not the browser's own background requests).

    A request on behalf of a file:// page runs in the page's network isolation key ``file://``, or
    names an initiator; Chromium's own traffic (time sync, sign-in probes) has ``not an origin``.
    """
    log = json.loads(netlog.read_text(encoding="utf-8"))
    types = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if types.get(event["type"]) != "URL_REQUEST_START_JOB" or "url" not in params:
            continue
        if str(params["url"]).startswith(("file:", "data:")):
            continue
        on_behalf_of_page = "file://" in str(params.get("network_isolation_key", "")) or params.get(
            "initiator"
        ) not in (None, "not an origin")
        if on_behalf_of_page:
            urls.append(str(params["url"]))
    return urls


def rendered(html_path: Path, netlog: Path) -> str:
    return report.dump_dom(html_path, f"--log-net-log={netlog}", "--net-log-capture-mode=Everything")


def subtree_units(con, year: int) -> list[tuple]:
    return con.execute(
        """select reporting_unit_code, n_missing, completeness_rate, timeliness_rate
           from marts.rpt_completeness_by_unit
           where period_year = ? and region_code in
                 (select region_code from marts.bridge_region_ancestor where ancestor_code = ?)""",
        [year, REGION],
    ).fetchall()


def has_table(con, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
        ).fetchone()[0]
    )


# ---- self-contained and offline ------------------------------------------------------------------


def test_the_report_is_one_file_without_external_references(paths, year, html_path):
    html = html_path.read_text(encoding="utf-8")
    assert html_path == paths.reports / f"{REGION}_{year}.html"
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", html, re.I)
    assert "http://" not in html and "https://" not in html and "@font-face" not in html
    assert report.offline_violations(html) == []
    assert html.count("<svg") >= 4  # status by pillar, pyramid, completeness, trends (+ survey)


def test_chromium_loads_it_without_any_network_request(html_path, browser, tmp_path):
    netlog = tmp_path / "netlog.json"
    dom = rendered(html_path, netlog)
    assert "丽江市产业工人队伍建设改革监测报告" in dom
    assert page_requests(netlog) == []


def test_the_network_check_catches_a_request(html_path, browser, tmp_path):
    """The check is not vacuous: the same page with one remote image is caught."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        html_path.read_text(encoding="utf-8").replace("</body>", '<img src="https://example.invalid/x.png"></body>'),
        encoding="utf-8",
    )
    assert report.offline_violations(leaky.read_text(encoding="utf-8"))
    netlog = tmp_path / "netlog.json"
    rendered(leaky, netlog)
    assert page_requests(netlog) == ["https://example.invalid/x.png"]


# ---- the figures are the marts' --------------------------------------------------------------------


@pytest.fixture(scope="module")
def dom(html_path, browser, tmp_path_factory) -> Metrics:
    return parse(rendered(html_path, tmp_path_factory.mktemp("dom") / "netlog.json"))


def check(dom: Metrics, name: str, expected, decimals: int = 0, suffix: str = "") -> None:
    assert name in dom.metrics, f"no data-metric={name!r} in the rendered report"
    value, text = dom.metrics[name]
    if expected is None:
        assert value == "" and text == "–", name
        return
    assert float(value) == pytest.approx(float(expected), rel=1e-12), name
    assert text == report.fmt(expected, decimals, suffix), name


def test_metadata(dom, paths, year):
    assert dom.metrics["region_name"][0] == "丽江市"
    assert dom.metrics["report_year"][0] == str(year)
    assert dom.metrics["release"][0] == warehouse.current_release(paths)


def test_target_counts_by_status_are_the_scorecards(dom, con, year):
    rows = con.execute(
        """select pillar_code, n_targets, n_achieved, n_on_track, n_at_risk, n_off_track, n_no_data, n_target_masked
           from marts.rpt_region_scorecard where region_code = ? and year = ? and n_targets > 0""",
        [REGION, year],
    ).fetchall()
    assert rows, "the demo city has targets"
    statuses = ("achieved", "on_track", "at_risk", "off_track", "no_data", "target_masked")
    check(dom, "targets_total", sum(r[1] for r in rows))
    for i, status in enumerate(statuses, start=2):
        check(dom, f"targets_{status}", sum(r[i] for r in rows))
        for r in rows:
            check(dom, f"pillar.{r[0]}.{status}", r[i])


def test_an_overshot_quota_and_an_impossible_rate_are_told_as_such(paths, con, year):
    """An = target overshot (每两年选拔50名, 125 selected) is not "lagging, not reached"; a rate of 138.8 %
    (its parts from two departments) is not "achieved"."""
    told = {"exceeded": ("偏离目标", "超出目标值"), "implausible_actual": ("无数据", "分子与分母数据不一致")}
    cases = con.execute(
        "select target_id, region_code, status_reason from marts.fct_target_progress where status_reason in ?",
        [list(told)],
    ).fetchall()
    assert {reason for *_, reason in cases} == set(told), "the demo data hold both cases"
    pages: dict[str, str] = {}
    for target_id, region, reason in cases:
        if region not in pages:
            pages[region] = report.build_report(paths, region, year).read_text(encoding="utf-8")
        row = re.search(rf'<tr data-target="{re.escape(target_id)}">(.*?)</tr>', pages[region], re.S)
        assert row, f"{target_id} is in the report of {region}"
        label, reason_text = told[reason]
        assert f">{label}</span>" in row.group(1) and reason_text in row.group(1), (target_id, row.group(1))
        assert "达成" not in row.group(1) and "本年度未达到" not in row.group(1), target_id


def test_every_target_shows_its_current_status(dom, con):
    expected = dict(
        con.execute(
            "select target_id, status from marts.fct_target_progress where region_code = ?", [REGION]
        ).fetchall()
    )
    assert dom.statuses == expected


def test_completeness_and_timeliness_by_unit(dom, con, year):
    overall = con.execute(
        """select completeness_rate, timeliness_rate, n_missing from marts.rpt_completeness_by_region
           where region_code = ? and period_year = ?""",
        [REGION, year],
    ).fetchone()
    check(dom, "completeness_rate", overall[0], 1, "%")
    check(dom, "timeliness_rate", overall[1], 1, "%")
    check(dom, "submissions_missing", overall[2])
    units = subtree_units(con, year)
    assert len(units) >= 5 and any(missing for _, missing, _, _ in units), "some unit is late in the demo"
    shown = {name.split(".")[1] for name in dom.metrics if name.startswith("unit.")}
    assert shown == {code for code, *_ in units}
    for code, missing, completeness, timeliness in units:
        check(dom, f"unit.{code}.missing", missing)
        check(dom, f"unit.{code}.completeness_rate", completeness, 1, "%")
        check(dom, f"unit.{code}.timeliness_rate", timeliness, 1, "%")


def test_trends_are_the_scorecard_headlines(dom, con, year):
    rows = con.execute(
        """select headline_indicator_code, year, headline_value, headline_obs_status from marts.rpt_region_scorecard
           where region_code = ? and year <= ? and headline_value is not null""",
        [REGION, year],
    ).fetchall()
    compared = 0
    for indicator, y, value, _status in rows:
        name = f"trend.{indicator}.{y}"
        if name in dom.metrics:
            assert float(dom.metrics[name][0]) == pytest.approx(value, rel=1e-12), name
            compared += 1
    assert compared >= 10


def test_a_part_year_headline_is_marked_not_shown_as_the_year(dom, con, year):
    # 2025's urban new jobs of 丽江市 miss a quarter: the sum of three quarters is not the year's figure
    partial = {
        f"{indicator}.{y}"
        for indicator, y in con.execute(
            """select headline_indicator_code, year from marts.rpt_region_scorecard
               where region_code = ? and year <= ? and headline_value is not null
                 and headline_obs_status <> 'masked' and not headline_is_full_year""",
            [REGION, year],
        ).fetchall()
        if f"trend.{indicator}.{y}" in dom.metrics
    }
    assert partial, "the demo data should hold a part year among the headlines"
    assert dom.partial == partial


def test_skill_pyramid_and_survey_when_their_marts_exist(dom, con, year):
    if has_table(con, "marts", "fct_skill_grade_pyramid"):
        pyramid_year = report._nearest_year(
            [
                y
                for (y,) in con.execute(
                    "select distinct year from marts.fct_skill_grade_pyramid where region_code = ?", [REGION]
                ).fetchall()
            ],
            year,
        )
        grades = dict(
            con.execute(
                """select skill_grade_code, n_workers from marts.fct_skill_grade_pyramid
                   where region_code = ? and year = ? and industry_section_code = '_T'""",
                [REGION, pyramid_year],
            ).fetchall()
        )
        check(dom, "workers_total", grades.pop("_T"))
        for grade, n in grades.items():
            if n is not None:  # suppressed cells are shown as 不公布, never as a number
                check(dom, f"pyramid.{grade}", n)
            else:
                assert f"pyramid.{grade}" not in dom.metrics
    else:
        assert "skills" in dom.unavailable
    if has_table(con, "marts", "fct_survey_estimate"):
        survey_year = report._nearest_year(
            [
                y
                for (y,) in con.execute(
                    "select distinct survey_year from marts.fct_survey_estimate where region_code = ?", [REGION]
                ).fetchall()
            ],
            year,
        )
        rows = con.execute(
            """select measure_code, estimate_type, estimate, margin_of_error, standard_error
               from marts.fct_survey_estimate
               where region_code = ? and survey_year = ? and worker_group_code = '_T' and not is_suppressed""",
            [REGION, survey_year],
        ).fetchall()
        assert rows
        for measure, kind, estimate, margin, se in rows:
            scale = 100.0 if kind == "proportion" else 1.0
            assert float(dom.metrics[f"survey.{measure}"][0]) == pytest.approx(estimate * scale, rel=1e-12)
            assert float(dom.metrics[f"survey.{measure}.moe"][0]) == pytest.approx(margin * scale, rel=1e-12)
            assert margin == pytest.approx(1.96 * se, rel=1e-3)  # ± 1.96·SE
    else:
        assert "survey" in dom.unavailable


def test_data_quality_per_unit(dom, con):
    rows = con.execute(
        """select reporting_unit_code, files_received, files_rejected, rows_quarantined,
                  rows_failing_critical_checks, rows_with_warnings
           from audit.unit_data_quality
           where region_code in (select region_code from marts.bridge_region_ancestor where ancestor_code = ?)""",
        [REGION],
    ).fetchall()
    check(dom, "files_received", sum(r[1] for r in rows))
    check(dom, "files_rejected", sum(r[2] for r in rows))
    check(dom, "rows_quarantined", sum(r[3] for r in rows))
    check(dom, "rows_failing_critical_checks", sum(r[4] for r in rows))
    check(dom, "rows_with_warnings", sum(r[5] for r in rows))
    assert sum(r[5] for r in rows) > 0, "the demo's outliers are reported for the city's units"
    for code, files, _rejected, quarantined, _critical, _warnings in rows:
        if files:
            check(dom, f"quality.{code}.rows_quarantined", quarantined)


# ---- PDF, missing marts, errors ------------------------------------------------------------------


def test_pdf(html_path, browser):
    pdf = report.build_pdf(html_path)
    data = pdf.read_bytes()
    assert pdf == html_path.with_suffix(".pdf") and data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) >= 1


def test_sections_without_their_mart_say_so(paths, year, tmp_path):
    """A warehouse without the statistics and survey marts still gets a report; those sections say why."""
    home = Paths.from_env(tmp_path / "home")
    home.warehouse_dir.mkdir(parents=True)
    shutil.copyfile(paths.published, home.published)
    with contextlib.closing(duckdb.connect(str(home.published))) as rw:
        for table in ("fct_skill_grade_pyramid", "fct_worker_share", "fct_survey_estimate"):
            rw.execute(f"drop table if exists marts.{table}")
    page = report.build_report(home, REGION, year).read_text(encoding="utf-8")
    found = parse(page)
    assert {"skills", "survey"} <= found.unavailable
    assert "本仓库暂无 marts.fct_skill_grade_pyramid" in page and "not available in this warehouse" in page
    assert "targets_total" in found.metrics and "completeness_rate" in found.metrics


def test_errors_tell_what_to_fix(paths, year, tmp_path):
    with pytest.raises(report.ReportError, match=r"no region '999999'.*530700"):
        report.build_report(paths, "999999", year)
    with pytest.raises(report.ReportError, match=r"in 1990.*years with data: \d{4}–\d{4}"):
        report.build_report(paths, REGION, 1990)
    with pytest.raises(report.ReportError, match="run `reform build` first"):
        report.build_report(Paths.from_env(tmp_path / "empty"), REGION, year)
