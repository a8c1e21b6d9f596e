"""The pandas peer (issue #8): the four core marts computed the way an analyst without this project would
- ``pd.read_csv`` over the generated files and the seeds, then filters, ``merge`` and ``groupby``.

Plain pandas (and numpy for the check digits), no DuckDB. The rules are the pipeline's, written out
again by hand - the same ones ``bench/floor.sql`` applies, with the same omissions, noted there:

- forms: unknown indicator or unit and text in the value are dropped; blank is missing, — / - … not
  applicable, * and (略) … masked (null value); "1,234" loses its separators; the latest version of a
  unit's figure wins (by 填报日期, then file name); with --historical a form is received at 18:00
  Shanghai on its 填报日期;
- worker records: the ingest checks that can fire on generated data (ID and credit-code check
  characters, unknown region, industry, grade, group, flag, reference year and title), the first of a
  repeated row, then one record per worker and year (the latest file's last row);
- the marts: completeness against the obligations, the roll-up to the targets' regions and the
  assessment at the as-of year, the pyramid with its margins and small-cell suppression.

``run_pandas(data_dir, seeds_dir, as_of)`` returns the canonical frames of :mod:`bench.compare`.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

FIRST_YEAR, LAST_YEAR = 2016, 2035  # the reporting calendar
DISCLOSURE_K = 5
PLAN_START_YEARS = {  # macro reform_monitoring_plan_start_year
    "001_bd421a37b0aab61e.txt": 2021,
    "003_03cbcd3f59cb989a.txt": 2018,
    "000_e99ee91a4b6423bc.txt": 2024,
    "002_5b97c148db488248.txt": 2024,
}
NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"
NOT_APPLICABLE = {"—", "——", "-", "--", "–", "/", "／", "不适用", "n/a", "na", "无此项"}
MASKED_WORDS = {"(略)", "略", "保密", "(保密)"}
MIGRANT_GROUPS = ("migrant_workers", "new_generation_migrant_workers")  # int_workers_deduplicated
FORM_COLUMNS = ["unit", "period", "indicator", "name", "value", "uom", "note", "filled_on"]
WORKER_COLUMNS = {  # position in the worker-record layout → name (names and phone numbers are not read)
    1: "id_number",
    3: "employer",
    4: "region",
    5: "industry",
    6: "grade",
    7: "group",
    8: "frontline",
    10: "reference_year",
    11: "title",
    12: "title_year",
}
YES_NO = {"是", "y", "yes", "1", "true", "t", "有", "√", "否", "n", "no", "0", "false", "f", "无", "×"}
TITLES = {
    "大国工匠", "国家级工匠", "国家级", "全国", "national", "great_craftsman",
    "省级工匠", "省级", "省工匠", "龙江大工匠", "provincial", "provincial_craftsman",
    "市级工匠", "市级", "市工匠", "地市级工匠", "丽江工匠", "city", "city_craftsman",
}  # fmt: skip
NO_TITLE = {"无", "否", "没有", "无称号", "none", "no", "-", "/", "—"}
RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])


def run_pandas(
    data_dir: Path,
    seeds_dir: Path,
    as_of: date | None = None,
    received_on: date | None = None,
    disclosure_k: int = DISCLOSURE_K,
) -> dict[str, pd.DataFrame]:
    """The core marts from the files under ``data_dir`` and the seeds in ``seeds_dir``, judged at
    ``as_of`` (the pipeline's as-of date; default: today in Shanghai); ``received_on`` is the day the
    pipeline received the worker records (default: ``as_of``)."""
    as_of = as_of or datetime.now(ZoneInfo("Asia/Shanghai")).date()
    received_on = received_on or as_of
    data_dir, seeds_dir = Path(data_dir), Path(seeds_dir)
    seeds = _read_seeds(seeds_dir, data_dir / "register")
    rows = _form_rows(data_dir / "inbox", seeds)
    versions = _versions(rows)
    expected = _expected_submissions(seeds)
    return {
        "observation_current": _observation_current(versions),
        "target_progress": _target_progress(versions, expected, seeds, pd.Timestamp(as_of)),
        "completeness": _completeness(expected, versions, pd.Timestamp(as_of)),
        "skill_pyramid": _skill_pyramid(data_dir / "inbox" / "microdata" / "workers", seeds, received_on, disclosure_k),
    }


# ------------------------------------------------------------------------------------------------ seeds


def load_microdata(data_dir: Path) -> dict[str, int]:
    """Read the microdata no core mart uses (bench.floor.LOADED_KINDS) into DataFrames of text, as a
    pandas user loads a CSV; returns their row counts. Each frame is let go once read: holding the 30
    million trainings beside the worker records would not fit this machine, so the peer's peak memory
    is what the core marts need, not what keeping every table would."""
    from bench.floor import LOADED_KINDS, microdata_files

    counts: dict[str, int] = {}
    for kind, title_rows in LOADED_KINDS.items():
        for path in microdata_files(data_dir, kind):
            frame = _read_text_csv(path, skiprows=title_rows)
            counts[kind] = counts.get(kind, 0) + len(frame)
            del frame
    return counts


def _read_text_csv(path: Path, **read) -> pd.DataFrame:
    """A microdata CSV as text: UTF-8 (with or without a byte-order mark), else GB18030."""
    try:
        return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False, **read)
    except UnicodeDecodeError:  # e.g. workers part 1 and the certifications come in GB18030
        return pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False, **read)


def _csv(path: Path) -> pd.DataFrame:
    """A seed as text; empty cells are None."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.replace("", None)


def _read_seeds(seeds_dir: Path, register_dir: Path) -> dict[str, pd.DataFrame]:
    indicators = _csv(seeds_dir / "indicators.csv")
    regions = _csv(seeds_dir / "regions.csv")
    units = pd.concat(
        [_csv(seeds_dir / "reporting_units.csv"), _csv(register_dir / "reporting_units.csv")], ignore_index=True
    )
    units = units.assign(reporting_unit_code=units["unit_code"].str.strip().str.upper())[
        ["reporting_unit_code", "region_code"]
    ]
    obligations = pd.concat(
        [_csv(seeds_dir / "reporting_obligations.csv"), _csv(register_dir / "reporting_obligations.csv")],
        ignore_index=True,
    )
    obligations = pd.DataFrame(
        {
            "reporting_unit_code": obligations["unit_code"].str.strip().str.upper(),
            "indicator_code": obligations["indicator_code"].str.strip().str.lower(),
            "periodicity": obligations["periodicity"],
            "first_year": obligations["first_year"].astype(int),
            "last_year": obligations["last_year"].astype(int),
            "due_days": obligations["due_days_after_period_end"].astype(int),
        }
    )
    return {
        "indicators": indicators,
        "regions": regions,
        "ancestors": _region_ancestors(regions),
        "units": units,
        "obligations": obligations,
        "periods": _periods(),
        "targets": _csv(seeds_dir / "targets.csv"),
        "skill_grades": _csv(seeds_dir / "skill_grades.csv"),
        "worker_groups": _csv(seeds_dir / "worker_groups.csv"),
        "industries": _csv(seeds_dir / "industries.csv"),
    }


def _region_ancestors(regions: pd.DataFrame) -> pd.DataFrame:
    """Every region with itself (distance 0) and each ancestor up to the nation."""
    parent = dict(zip(regions["region_code"], regions["parent_code"], strict=True))
    level = dict(zip(regions["region_code"], regions["level"], strict=True))
    rows = []
    for region in regions["region_code"]:
        ancestor, distance = region, 0
        while ancestor is not None and ancestor in level and distance <= 10:
            rows.append((region, ancestor, distance, level[ancestor]))
            ancestor, distance = parent.get(ancestor), distance + 1
    return pd.DataFrame(rows, columns=["region_code", "ancestor_code", "distance", "ancestor_level"])


def _periods() -> pd.DataFrame:
    """The reporting calendar: annual, half-year, quarterly and monthly periods 2016-2035."""
    rows = []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        for period_type, count, prefix in (("annual", 1, ""), ("half_year", 2, "-S"), ("quarter", 4, "-Q")):
            months = 12 // count
            for n in range(1, count + 1):
                start = date(year, months * (n - 1) + 1, 1)
                period_id = str(year) if period_type == "annual" else f"{year}{prefix}{n}"
                rows.append((period_id, period_type, year, start, months, count))
        for n in range(1, 13):
            rows.append((f"{year}-M{n:02d}", "month", year, date(year, n, 1), 1, 12))
    periods = pd.DataFrame(rows, columns=["period_id", "period_type", "year", "start", "months", "periods_per_year"])
    starts = pd.to_datetime(periods["start"])
    ends = [
        start + pd.DateOffset(months=n) - pd.Timedelta(days=1)
        for start, n in zip(starts, periods["months"], strict=True)
    ]
    periods["end_date"] = pd.to_datetime(pd.Series(ends))
    return periods.drop(columns=["start", "months"])


# ------------------------------------------------------------------------------------------------ forms


def _by_value(series: pd.Series, function) -> pd.Series:
    """``function`` applied to the distinct values only (codes, periods and dates repeat a lot)."""
    distinct = pd.Series(series.unique())
    return series.map(dict(zip(distinct, function(distinct), strict=True)))


def _form_rows(inbox: Path, seeds: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every accepted row of every form, with its file and receipt time."""
    frames = []
    for path in sorted(inbox.glob("*.csv")):
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            names=FORM_COLUMNS,
            header=0,
            usecols=["unit", "period", "indicator", "value", "filled_on"],
        )
        frame["file_name"] = path.name
        frames.append(frame)
    forms = pd.concat(frames, ignore_index=True)
    del frames

    rows = pd.DataFrame(
        {
            "file_name": forms["file_name"],
            "reporting_unit_code": _by_value(forms["unit"], lambda s: s.str.strip().str.upper()),
            "period_id": _by_value(forms["period"], lambda s: _period_ids(s.str.replace(r"\s+", "", regex=True))),
            "indicator_code": _by_value(forms["indicator"], lambda s: s.str.strip().str.lower()),
        }
    )
    # with --historical a form counts as received at 18:00 Shanghai (10:00 UTC) on its 填报日期
    received = _by_value(
        forms["filled_on"],
        lambda s: pd.to_datetime(s.str.strip(), format="%Y-%m-%d", errors="coerce") + pd.Timedelta(hours=10),
    )
    rows["received_at"] = received.groupby(forms["file_name"]).transform("min")

    # most cells are plain numbers; the others are parsed on their own
    plain = forms["value"].str.fullmatch(NUMBER)
    rows["value"] = np.nan
    rows.loc[plain, "value"] = forms.loc[plain, "value"].astype("float64")
    rows["obs_status"] = "normal"
    other = forms.loc[~plain, "value"].str.replace(r"\s+", "", regex=True)
    status, value = _parse_values(other)
    rows.loc[~plain, "obs_status"] = status
    rows.loc[~plain, "value"] = value
    del forms

    year = pd.to_numeric(rows["period_id"].str.slice(0, 4), errors="coerce")
    numeric = rows["obs_status"].isin(["normal", "provisional", "estimated"])
    keep = rows["period_id"].notna() & year.between(FIRST_YEAR, LAST_YEAR) & (~numeric | rows["value"].notna())
    keep &= rows["indicator_code"].isin(seeds["indicators"]["indicator_code"])
    rows = rows[keep].merge(seeds["units"], on="reporting_unit_code", how="inner")
    # one row per indicator in a file: a repeat is refused
    return rows.drop_duplicates(["file_name", "reporting_unit_code", "region_code", "period_id", "indicator_code"])


def _parse_values(text: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(status, value) of cells that are not plain numbers: blank is missing, — / - … not applicable,
    * and (略) … masked, a (p)/(e) suffix provisional/estimated; thousands separators are dropped; a
    value that still is no number is NaN (the row is refused)."""
    lowered = text.str.lower()
    status = np.select(
        [
            text == "",
            lowered.isin(NOT_APPLICABLE),
            text.str.contains("*", regex=False) | text.isin(MASKED_WORDS),
            lowered.str.contains(r"\((?:p|初步)\)$"),
            lowered.str.contains(r"\((?:e|估|预计)\)$"),
        ],
        ["missing", "not_applicable", "masked", "provisional", "estimated"],
        "normal",
    )
    number = text.str.replace(r"\(([pPeE]|初步|估|预计)\)$", "", regex=True)
    thousands = number.str.fullmatch(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
    number = number.where(~thousands, number.str.replace(",", "", regex=False))
    numeric = np.isin(status, ["normal", "provisional", "estimated"]) & number.str.fullmatch(NUMBER)
    value = pd.Series(np.nan, index=text.index)
    value[numeric] = number[numeric].astype("float64")
    return status, value


def _period_ids(text: pd.Series) -> pd.Series:
    """报告期 → SDMX period id (2025年3月 → 2025-M03, 2025年第一季度 → 2025-Q1, 2025年上半年 → 2025-S1, 2025年)."""
    year = text.str.slice(0, 4)
    month = text.str.extract(r"^\d{4}年(\d{1,2})月份?$")[0]
    quarter = text.str.extract(r"^\d{4}年?第?([1-4一二三四])季度?$")[0]
    quarter = quarter.replace({"一": "1", "二": "2", "三": "3", "四": "4"})
    half = text.str.extract(r"^\d{4}年?([上下])半年$")[0]
    month_number = pd.to_numeric(month, errors="coerce")
    ids = pd.Series(None, index=text.index, dtype=object)
    ids = ids.mask(text.str.fullmatch(r"\d{4}-(?:M(?:0[1-9]|1[0-2])|Q[1-4]|S[12])"), text)
    ids = ids.mask(text.str.fullmatch(r"\d{4}(?:年|年度)?"), year)
    ids = ids.mask(half.notna(), year + "-S" + half.map({"上": "1", "下": "2"}))
    ids = ids.mask(quarter.notna(), year + "-Q" + quarter)
    ok_month = month_number.between(1, 12)
    return ids.mask(ok_month, year + "-M" + month.str.zfill(2))


def _versions(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per unit, region, period and indicator: the current (latest) version, the number of
    versions and the first and last receipt."""
    key = ["reporting_unit_code", "region_code", "period_id", "indicator_code"]
    ordered = rows.sort_values(["received_at", "file_name"])
    grouped = ordered.groupby(key, sort=False)
    summary = grouped.agg(
        n_versions=("file_name", "size"),
        first_received_at=("received_at", "min"),
        last_received_at=("received_at", "max"),
    )
    current = ordered.drop_duplicates(key, keep="last").set_index(key)
    return current.join(summary).reset_index()


def _observation_current(versions: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "indicator_code": versions["indicator_code"],
            "region_code": versions["region_code"],
            "period_id": versions["period_id"],
            "reporting_unit_code": versions["reporting_unit_code"],
            "value": versions["value"],
            "obs_status": versions["obs_status"],
            "version": versions["n_versions"].astype("int32"),
            "received_at": versions["received_at"],
            "file_name": versions["file_name"],
        }
    )


# --------------------------------------------------------------------------------------------- completeness


def _expected_submissions(seeds: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every obligation × period of its periodicity, due N days after the period ends."""
    obligations = seeds["obligations"].reset_index(drop=True)
    years = obligations.loc[obligations.index.repeat(obligations["last_year"] - obligations["first_year"] + 1)]
    years = years.assign(year=years["first_year"] + years.groupby(level=0).cumcount())
    expected = years.merge(seeds["periods"], left_on=["periodicity", "year"], right_on=["period_type", "year"]).merge(
        seeds["units"], on="reporting_unit_code", how="left"
    )
    expected["due_date"] = expected["end_date"] + pd.to_timedelta(expected["due_days"], unit="D")
    return expected.rename(columns={"year": "period_year", "end_date": "period_end_date"})


def _completeness(expected: pd.DataFrame, versions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    received = versions[
        ["reporting_unit_code", "indicator_code", "period_id", "first_received_at", "last_received_at", "n_versions"]
    ]
    joined = expected.merge(received, on=["reporting_unit_code", "indicator_code", "period_id"], how="left")
    submitted = joined["n_versions"].notna()
    # received_at is UTC; due dates are Shanghai calendar dates
    first_date = (joined["first_received_at"] + pd.Timedelta(hours=8)).dt.normalize()
    days_late = (first_date - joined["due_date"]).dt.days.clip(lower=0)
    return pd.DataFrame(
        {
            "reporting_unit_code": joined["reporting_unit_code"],
            "region_code": joined["region_code"],
            "indicator_code": joined["indicator_code"],
            "period_id": joined["period_id"],
            "periodicity": joined["periodicity"],
            "period_year": joined["period_year"].astype("int32"),
            "period_end_date": joined["period_end_date"],
            "due_date": joined["due_date"],
            "as_of_date": as_of,
            "is_due": joined["due_date"] < as_of,
            "is_submitted": submitted,
            "first_received_at": joined["first_received_at"],
            "first_received_date": first_date,
            "is_on_time": submitted & (first_date <= joined["due_date"]),
            "days_late": days_late.where(submitted).astype("Int32"),
            "n_versions": joined["n_versions"].fillna(0).astype("int32"),
            "last_received_at": joined["last_received_at"],
        }
    )


# ------------------------------------------------------------------------------------------ target progress


def _nullif_zero(series: pd.Series) -> pd.Series:
    return series.where(series != 0)


def _target_progress(
    versions: pd.DataFrame, expected: pd.DataFrame, seeds: dict[str, pd.DataFrame], as_of: pd.Timestamp
) -> pd.DataFrame:
    indicators = seeds["indicators"].set_index("indicator_code")
    targets = _targets(seeds["targets"], indicators)
    series = _target_series(targets, indicators)
    rollup = _rollup_at_targets(versions, expected, seeds, indicators, series, as_of)
    yearly = _yearly_values(rollup, seeds["periods"], series)
    assessed = _assess(targets, yearly, as_of.year)
    final = targets[["target_id", "indicator_code", "region_code"]].merge(
        assessed.drop(columns=["indicator_code", "region_code"]), on="target_id", how="left"
    )
    final["status"] = final["status"].fillna("no_data")
    final["status_reason"] = final["status_reason"].fillna("not_started")
    final["as_of_date"] = as_of
    return final


def _targets(raw: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    targets = raw[raw["indicator_code"].isin(indicators.index)].copy()
    for column in ("target_value", "target_value_high", "baseline_value"):
        targets[column] = targets[column].astype("float64")
    for column in ("deadline_year", "baseline_year"):
        targets[column] = pd.to_numeric(targets[column]).astype("Int64")
    ind = indicators.loc[targets["indicator_code"]]
    for column in ("kind", "aggregation", "periodicity", "direction", "unit"):
        targets[column] = ind[column].to_numpy()
    targets["plan_start_year"] = (
        targets["source_document"].map(PLAN_START_YEARS).astype("Int64").fillna(targets["deadline_year"] - 4)
    )
    wording = targets["value_text"].fillna("") + targets["source_quote"].fillna("")
    cumulative = (targets["aggregation"] != "ratio") & (
        (targets["kind"] == "cumulative_count")
        | (targets["periodicity"] != "annual")
        | wording.str.contains("累计")
        | wording.str.contains("新增")
    )
    recurring = targets["recurrence"].notna() | targets["deadline_year"].isna()
    targets["progress_method"] = np.select([recurring, cumulative], ["recurring", "cumulative"], "level")
    return targets.rename(columns={"status": "target_status"})


def _target_series(targets: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """A target's indicator at its region, with the period type its years are made of."""
    series = targets[["indicator_code", "region_code"]].drop_duplicates()
    ind = indicators.loc[series["indicator_code"]]
    series["aggregation"] = ind["aggregation"].to_numpy()
    series["numerator_code"] = ind["numerator_code"].to_numpy()
    series["denominator_code"] = ind["denominator_code"].to_numpy()
    numerator_periodicity = series["numerator_code"].map(indicators["periodicity"])
    series["period_type"] = np.where(
        series["aggregation"] == "ratio", numerator_periodicity, ind["periodicity"].to_numpy()
    )
    return series.reset_index(drop=True)


def _rollup_at_targets(
    versions: pd.DataFrame,
    expected: pd.DataFrame,
    seeds: dict[str, pd.DataFrame],
    indicators: pd.DataFrame,
    series: pd.DataFrame,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Each series rolled up to its target region, period by period: the region's own figure when it has
    one, otherwise its children's (recursively); `none` indicators are not rolled up."""
    key = ["indicator_code", "region_code", "period_id"]
    periods = seeds["periods"][["period_id", "period_type"]]
    ratio = series[series["aggregation"] == "ratio"]
    plain = series[series["aggregation"].isin(["sum", "none"])]
    # which indicator at which period type each series reads
    members = pd.concat(
        [
            plain[["indicator_code", "period_type"]].assign(member=plain["indicator_code"]),
            ratio[["indicator_code", "period_type"]].assign(member=ratio["numerator_code"]),
            ratio[["indicator_code", "period_type"]].assign(member=ratio["denominator_code"]),
        ]
    ).drop_duplicates()

    # a region's own figure of a sum/none indicator: the current figures reported for the region itself
    observations = versions.merge(periods, on="period_id")
    observations = observations[
        observations["indicator_code"].map(indicators["aggregation"]).isin(["sum", "none"])
        & (observations["value"].notna() | (observations["obs_status"] == "masked"))
    ]
    needed = members[["member", "period_type"]].drop_duplicates().rename(columns={"member": "indicator_code"})
    observations = observations.merge(needed, on=["indicator_code", "period_type"])
    components = (
        observations.assign(
            masked=observations["obs_status"] == "masked",
            estimated=observations["obs_status"] == "estimated",
            provisional=observations["obs_status"] == "provisional",
        )
        .groupby(key, as_index=False)
        .agg(
            n_observations=("value", "size"),
            n_masked=("masked", "sum"),
            n_estimated=("estimated", "sum"),
            n_provisional=("provisional", "sum"),
            n_values=("value", "count"),
            value_sum=("value", lambda v: v.sum(min_count=1)),
        )
    )
    own_plain = components[components["indicator_code"].isin(plain["indicator_code"])].assign(
        numerator_sum=np.nan, denominator_sum=np.nan
    )
    pairs = ratio[["indicator_code", "numerator_code", "denominator_code"]].drop_duplicates()
    numerators = pairs.merge(components, left_on="numerator_code", right_on="indicator_code", suffixes=("", "_n"))
    pairs_own = numerators.merge(
        components,
        left_on=["denominator_code", "region_code", "period_id"],
        right_on=["indicator_code", "region_code", "period_id"],
        suffixes=("", "_d"),
    )
    own_ratio = pd.DataFrame(
        {
            "indicator_code": pairs_own["indicator_code"],
            "region_code": pairs_own["region_code"],
            "period_id": pairs_own["period_id"],
            "n_observations": pairs_own["n_observations"] + pairs_own["n_observations_d"],
            "n_masked": pairs_own["n_masked"] + pairs_own["n_masked_d"],
            "n_estimated": pairs_own["n_estimated"] + pairs_own["n_estimated_d"],
            "n_provisional": pairs_own["n_provisional"] + pairs_own["n_provisional_d"],
            "n_values": np.minimum(pairs_own["n_values"], pairs_own["n_values_d"]),
            "value_sum": np.nan,
            "numerator_sum": pairs_own["value_sum"],
            "denominator_sum": pairs_own["value_sum_d"],
        }
    )
    own = pd.concat([own_plain, own_ratio], ignore_index=True)

    # expected submissions due before the as-of date, and whether a figure arrived
    due = expected[expected["due_date"] < as_of]
    due = due.merge(members, left_on=["indicator_code", "period_type"], right_on=["member", "period_type"])
    due = due.drop(columns=["indicator_code_x"]).rename(columns={"indicator_code_y": "indicator_code"})
    arrived = versions[["reporting_unit_code", "indicator_code", "period_id"]].rename(
        columns={"indicator_code": "member"}
    )
    due = due.merge(arrived.assign(reported=True), on=["reporting_unit_code", "member", "period_id"], how="left")
    expected_inputs = (
        due.assign(reported=due["reported"].fillna(False).astype(bool))
        .groupby(key, as_index=False)
        .agg(n_expected=("reported", "size"), n_reported=("reported", "sum"))
    )

    inputs = own.merge(expected_inputs, on=key, how="outer", indicator=True)
    inputs["has_own_figure"] = inputs["_merge"] != "right_only"
    for column in ("n_observations", "n_masked", "n_estimated", "n_provisional", "n_values", "n_expected"):
        inputs[column] = inputs[column].fillna(0)
    inputs["n_reported"] = inputs["n_reported"].fillna(0)
    inputs = inputs.drop(columns="_merge")

    # the nearest ancestor (one step up or more) of each input region that has an own figure
    ancestors = seeds["ancestors"]
    up = inputs[key].merge(ancestors[ancestors["distance"] > 0], on="region_code")
    up = up.merge(
        own[key].rename(columns={"region_code": "ancestor_code"}), on=["indicator_code", "ancestor_code", "period_id"]
    )
    nearest = up.groupby(key, as_index=False)["distance"].min().rename(columns={"distance": "own_distance"})

    # the inputs below (or at) each target region
    targets = series[["indicator_code", "region_code", "aggregation"]].drop_duplicates()
    below = targets.rename(columns={"region_code": "target_region"}).merge(
        ancestors, left_on="target_region", right_on="ancestor_code"
    )
    contributions = below.merge(inputs, on=["indicator_code", "region_code"]).merge(nearest, on=key, how="left")
    counts = np.where(
        contributions["aggregation"] == "none",
        contributions["distance"] == 0,
        contributions["distance"] < contributions["own_distance"].fillna(999),
    )
    counted = contributions[counts]
    summed = counted.groupby(["indicator_code", "target_region", "period_id"], as_index=False).agg(
        aggregation=("aggregation", "first"),
        n_masked=("n_masked", "sum"),
        n_estimated=("n_estimated", "sum"),
        n_provisional=("n_provisional", "sum"),
        n_values=("n_values", "sum"),
        value_sum=("value_sum", lambda v: v.sum(min_count=1)),
        numerator_sum=("numerator_sum", lambda v: v.sum(min_count=1)),
        denominator_sum=("denominator_sum", lambda v: v.sum(min_count=1)),
        n_expected=("n_expected", "sum"),
        n_reported=("n_reported", "sum"),
    )
    summed = summed.rename(columns={"target_region": "region_code"})
    masked = summed["n_masked"] > 0
    ratio_value = summed["numerator_sum"] / _nullif_zero(summed["denominator_sum"]) * 100
    summed["value"] = np.select(
        [masked, summed["aggregation"] == "ratio", (summed["aggregation"] == "none") & (summed["n_values"] > 1)],
        [np.nan, ratio_value, np.nan],
        summed["value_sum"],
    )
    summed["numerator_value"] = summed["numerator_sum"].where(~masked)
    summed["denominator_value"] = summed["denominator_sum"].where(~masked)
    summed["is_complete"] = summed["n_reported"] == summed["n_expected"]
    return summed


def _yearly_values(rollup: pd.DataFrame, periods: pd.DataFrame, series: pd.DataFrame) -> pd.DataFrame:
    """One value per series and calendar year: the periods' sum (flows), the last period's value (none),
    the ratio of the year's sums (ratios); a masked period masks the year."""
    rows = rollup.merge(periods, on="period_id").merge(
        series[["indicator_code", "period_type"]].drop_duplicates(), on=["indicator_code", "period_type"]
    )
    rows["has_figure"] = rows["value"].notna() | (rows["n_masked"] > 0)
    rows["counted_numerator"] = rows["numerator_value"].where(rows["value"].notna())
    rows["counted_denominator"] = rows["denominator_value"].where(rows["value"].notna())
    rows["figure_period"] = rows["period_id"].where(rows["has_figure"])
    rows["figure_end"] = rows["end_date"].where(rows["has_figure"])
    key = ["indicator_code", "region_code", "year"]
    years = rows.groupby(key, as_index=False).agg(
        aggregation=("aggregation", "first"),
        periods_per_year=("periods_per_year", "first"),
        n_masked=("n_masked", "sum"),
        n_estimated=("n_estimated", "sum"),
        n_provisional=("n_provisional", "sum"),
        value_total=("value", lambda v: v.sum(min_count=1)),
        numerator=("counted_numerator", lambda v: v.sum(min_count=1)),
        denominator=("counted_denominator", lambda v: v.sum(min_count=1)),
        n_periods_reported=("has_figure", "sum"),
        last_period_id=("figure_period", "max"),
        last_period_end_date=("figure_end", "max"),
        all_periods_complete=("is_complete", "all"),
    )
    # none: the value of the last period that has one
    last = rows[rows["has_figure"] & rows["value"].notna()].sort_values("end_date").drop_duplicates(key, keep="last")
    years = years.merge(last[[*key, "value"]].rename(columns={"value": "last_value"}), on=key, how="left")
    years["value_sum"] = np.select(
        [years["aggregation"] == "sum", years["aggregation"] == "ratio"],
        [years["value_total"], years["numerator"] / _nullif_zero(years["denominator"]) * 100],
        years["last_value"],
    )
    masked = years["n_masked"] > 0
    years["value"] = years["value_sum"].where(~masked)
    years["obs_status"] = np.select(
        [masked, years["value_sum"].isna(), years["n_estimated"] > 0, years["n_provisional"] > 0],
        ["masked", "missing", "estimated", "provisional"],
        "normal",
    )
    years["is_full_year"] = years["n_periods_reported"] == years["periods_per_year"]
    years["is_complete"] = years["all_periods_complete"] & years["is_full_year"]
    return years


def _months_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """DuckDB's date_diff('month', start, end): month boundaries crossed."""
    return (end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)


def _assess(targets: pd.DataFrame, yearly: pd.DataFrame, year: int) -> pd.DataFrame:
    """Every target whose plan period has started, assessed with the data of the years up to ``year``."""
    t = targets[targets["plan_start_year"].fillna(year) <= year].copy()
    values = t[["target_id", "indicator_code", "region_code", "plan_start_year", "deadline_year"]].merge(
        yearly, on=["indicator_code", "region_code"]
    )
    values = values[
        (values["year"] <= year)
        & (values["year"] >= values["plan_start_year"].fillna(values["year"]))
        & (values["year"] <= values["deadline_year"].fillna(values["year"]))
        & (values["value"].notna() | (values["obs_status"] == "masked"))
    ]
    values = values[
        [
            "target_id", "year", "value", "obs_status", "n_masked", "n_estimated", "n_provisional",
            "is_full_year", "is_complete", "last_period_id", "last_period_end_date",
        ]
    ]  # fmt: skip
    grouped = values.groupby("target_id")
    windows = pd.DataFrame(
        {
            "latest_year": grouped["year"].max(),
            "latest_full": values[values["is_full_year"]].groupby("target_id")["year"].max(),
            "first_value_year": values[values["value"].notna()].groupby("target_id")["year"].min(),
            "value_total": grouped["value"].sum(min_count=1),
            "n_masked_total": grouped["n_masked"].sum(),
            "n_estimated_total": grouped["n_estimated"].sum(),
            "n_provisional_total": grouped["n_provisional"].sum(),
            "n_years": grouped["year"].size(),
            "all_years_complete": grouped["is_complete"].all(),
        }
    )
    windows["latest_full_year"] = windows["latest_full"].fillna(windows["latest_year"])
    t = t.merge(windows, left_on="target_id", right_index=True, how="left")

    def year_row(column: str, prefix: str) -> None:
        nonlocal t
        picked = values.rename(columns={c: f"{prefix}_{c}" for c in values.columns if c != "target_id"})
        t = t.merge(picked, left_on=["target_id", column], right_on=["target_id", f"{prefix}_year"], how="left")

    year_row("latest_year", "latest")
    year_row("latest_full_year", "evaluated")
    t["previous_year_key"] = t["latest_full_year"] - 1
    year_row("previous_year_key", "previous")
    year_row("first_value_year", "first")

    method = t["progress_method"]
    cumulative, level, recurring = method == "cumulative", method == "level", method == "recurring"
    biennial_sum = (t["recurrence"] == "biennial") & (t["aggregation"] == "sum")
    previous_masked = t["previous_obs_status"] == "masked"
    recurring_value = np.where(
        biennial_sum,
        np.where(previous_masked, np.nan, t["evaluated_value"] + t["previous_value"].fillna(0)),
        t["evaluated_value"],
    )
    t["actual_value"] = np.select(
        [cumulative, level],
        [t["value_total"].where(~(t["n_masked_total"] > 0)), t["latest_value"]],
        recurring_value,
    )
    cumulative_status = np.select(
        [
            t["n_masked_total"].fillna(0) > 0,
            t["value_total"].isna(),
            t["n_estimated_total"].fillna(0) > 0,
            t["n_provisional_total"].fillna(0) > 0,
        ],
        ["masked", "missing", "estimated", "provisional"],
        "normal",
    )
    recurring_status = t["evaluated_obs_status"].where(~(previous_masked & biennial_sum), "masked")
    t["actual_obs_status"] = np.select([cumulative, level], [cumulative_status, t["latest_obs_status"]], None)
    t["actual_obs_status"] = t["actual_obs_status"].where(~recurring, recurring_status)
    t["actual_year"] = t["evaluated_year"].where(recurring, t["latest_year"]).astype("Int64")
    t["actual_period_id"] = t["evaluated_last_period_id"].where(recurring, t["latest_last_period_id"])
    t["actual_end_date"] = t["evaluated_last_period_end_date"].where(recurring, t["latest_last_period_end_date"])

    # SQL's three-valued logic on the completeness flags (null when the year is missing)
    def flag(column: str) -> pd.Series:
        return t[column].astype("boolean")

    span = t["n_years"] == t["latest_year"] - t["plan_start_year"] + 1
    span = span.astype("boolean").mask(t["n_years"].isna() | t["plan_start_year"].isna())
    cumulative_complete = flag("all_years_complete") & span
    not_biennial_sum = (t["recurrence"].fillna("") != "biennial") | (t["aggregation"] != "sum")
    recurring_complete = flag("evaluated_is_complete") & (
        pd.Series(not_biennial_sum, index=t.index).astype("boolean") | flag("previous_is_complete").fillna(False)
    )
    t["actual_is_complete"] = recurring_complete.where(~cumulative, cumulative_complete)
    t["actual_is_complete"] = t["actual_is_complete"].where(~level, flag("latest_is_complete"))

    stated = t["baseline_value"].notna()
    t["baseline"] = np.select([cumulative, stated, level], [0.0, t["baseline_value"], t["first_value"]], np.nan).astype(
        "float64"
    )
    t["baseline_year_out"] = np.select(
        [cumulative, stated, level],
        [t["plan_start_year"] - 1, t["baseline_year"], t["first_year"]],
        None,
    )
    plan_end = pd.to_datetime((t["plan_start_year"] - 1).astype("string") + "-12-31", errors="coerce")
    stated_end = pd.to_datetime(t["baseline_year"].astype("string") + "-12-31", errors="coerce")
    t["baseline_date"] = plan_end.where(cumulative, stated_end.where(stated, t["first_last_period_end_date"]))
    t["baseline_date"] = t["baseline_date"].where(cumulative | stated | level)
    t["baseline_source"] = np.select(
        [cumulative, stated, level & t["first_value"].notna()], ["plan_start_zero", "target", "first_actual"], None
    )

    comparator, target, high = t["comparator"], t["target_value"], t["target_value_high"]
    actual, baseline = t["actual_value"], t["baseline"]
    t["pace_target"] = high.where((comparator == "between") & (baseline > high), target)
    t["direction_sign"] = np.select(
        [
            comparator == ">=",
            comparator == "<=",
            (comparator == "between") & (baseline > high),
            (comparator == "between") & (baseline < target),
            comparator.isin(["=", "~"]) & (target > baseline),
            comparator.isin(["=", "~"]) & (target < baseline),
            t["direction"] == "lower_is_better",
        ],
        [1, -1, -1, 1, 1, -1, -1],
        1,
    )
    t["is_met"] = np.select(
        [comparator == ">=", comparator == "<=", comparator == "=", comparator == "~", comparator == "between"],
        [
            actual >= target,
            actual <= target,
            (actual - target).abs() <= 0.005 * target.abs(),
            (actual - target).abs() <= 0.05 * target.abs(),
            (actual >= target) & (actual <= high),
        ],
        False,
    )
    deadline = pd.to_datetime(t["deadline_year"].astype("string") + "-12-31", errors="coerce")
    t["years_total"] = _months_between(t["baseline_date"], deadline) / 12.0
    t["years_elapsed"] = _months_between(t["baseline_date"], t["actual_end_date"]) / 12.0

    compound = level & (baseline > 0) & (actual > 0) & (t["pace_target"] > 0)
    t["pace_method"] = np.select([recurring | baseline.isna(), compound], [None, "compound"], "linear")
    total, elapsed, pace_target = t["years_total"], t["years_elapsed"], t["pace_target"]
    with np.errstate(all="ignore"):
        t["required_annual_pace"] = np.select(
            [(t["pace_method"] == "compound") & (total > 0), (t["pace_method"] == "linear") & (total > 0)],
            [np.power(pace_target / baseline, 1 / total) - 1, (pace_target - baseline) / total],
            np.nan,
        )
        t["observed_annual_pace"] = np.select(
            [(t["pace_method"] == "compound") & (elapsed > 0), (t["pace_method"] == "linear") & (elapsed > 0)],
            [np.power(actual / baseline, 1 / elapsed) - 1, (actual - baseline) / elapsed],
            np.nan,
        )
    between = comparator == "between"
    t["pct_achieved"] = np.select(
        [
            between & (actual < target),
            between & (actual > high),
            between & actual.notna(),
            t["direction_sign"] < 0,
        ],
        [
            actual / _nullif_zero(target) * 100,
            high / _nullif_zero(actual) * 100,
            100.0,
            target / _nullif_zero(actual) * 100,
        ],
        actual / _nullif_zero(target) * 100,
    )
    t["progress_ratio"] = (
        t["direction_sign"] * t["observed_annual_pace"] / _nullif_zero(t["required_annual_pace"].abs())
    )
    sign = t["direction_sign"]  # beyond the target on the far side from where it was approached
    overshot = (
        (comparator.isin(["=", "~"]) & (sign * (actual - target) > 0))
        | (between & (sign > 0) & (actual > high))
        | (between & (sign < 0) & (actual < target))
    )
    reason = np.select(
        [
            t["target_status"] == "masked",
            target.isna(),
            t["actual_obs_status"] == "masked",
            actual.isna(),
            (t["unit"] == "%") & ~actual.between(0, 100),
            t["is_met"],
            (recurring | (t["actual_end_date"] >= deadline)) & overshot,
            recurring,
            t["actual_end_date"] >= deadline,
            t["progress_ratio"].isna(),
        ],
        ["target_masked", "relative_target", "actual_masked", "no_actual", "implausible_actual", "met", "exceeded",
         "not_met", "deadline_missed", "no_trend"],
        "progress_ratio",
    )  # fmt: skip
    ratio = t["progress_ratio"]
    t["status_reason"] = reason
    t["status"] = np.select(
        [
            reason == "target_masked",
            reason == "met",
            np.isin(reason, ["not_met", "exceeded", "deadline_missed"]),
            (reason == "progress_ratio") & (ratio >= 0.95),
            (reason == "progress_ratio") & (ratio >= 0.5),
            reason == "progress_ratio",
        ],
        ["target_masked", "achieved", "off_track", "on_track", "at_risk", "off_track"],
        "no_data",
    )
    return pd.DataFrame(
        {
            "target_id": t["target_id"],
            "indicator_code": t["indicator_code"],
            "region_code": t["region_code"],
            "progress_method": t["progress_method"],
            "plan_start_year": t["plan_start_year"],
            "actual_value": t["actual_value"],
            "actual_obs_status": t["actual_obs_status"],
            "actual_year": t["actual_year"],
            "actual_period_id": t["actual_period_id"],
            "actual_is_complete": t["actual_is_complete"],
            "baseline_value": t["baseline"],
            "baseline_year": pd.to_numeric(t["baseline_year_out"]).astype("Int64"),
            "baseline_source": t["baseline_source"],
            "pct_achieved": t["pct_achieved"],
            "pace_method": t["pace_method"],
            "years_elapsed": t["years_elapsed"],
            "years_total": t["years_total"],
            "required_annual_pace": t["required_annual_pace"],
            "observed_annual_pace": t["observed_annual_pace"],
            "progress_ratio": t["progress_ratio"],
            "status": t["status"],
            "status_reason": t["status_reason"],
        }
    )


# ------------------------------------------------------------------------------------------ skill pyramid


def _clean(s: pd.Series) -> pd.Series:
    """Trimmed text, None when blank."""
    s = s.str.strip(" \t\n\r")
    return s.where(s != "")


def _code(s: pd.Series) -> pd.Series:
    s = _clean(s).str.replace(" ", "", regex=False).str.replace("-", "", regex=False).str.upper()
    return s.where(s != "")


def _key(s: pd.Series) -> pd.Series:
    return _clean(s).str.replace(" ", "", regex=False).str.lower()


def _year(s: pd.Series) -> pd.Series:
    clean = _clean(s)
    return pd.to_numeric(clean.str.slice(0, 4).where(clean.str.fullmatch(r"[0-9]{4}(?:年|年度)?")), errors="coerce")


def _digits(codes: pd.Series, width: int) -> np.ndarray:
    """The first ``width`` characters of equal-length ASCII codes as a (rows, width) array of bytes."""
    if codes.empty:
        return np.zeros((0, width), dtype=np.int64)
    joined = "".join(code[:width] for code in codes).encode("ascii", errors="replace")
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, width).astype(np.int64)


def _id_ok(ids: pd.Series, received_year: int) -> pd.Series:
    """GB 11643: 17 digits, the MOD 11-2 check character, a real birth date not after receipt."""
    ok = ids.str.fullmatch(r"[0-9]{17}[0-9X]").fillna(False).astype(bool)
    candidates = ids[ok]
    check = (_digits(candidates, 17) - 48) @ RIC_WEIGHTS % 11
    expected = np.array(list("10X98765432"))[check]
    ok[ok] = candidates.str.slice(17, 18).to_numpy() == expected
    birth = pd.to_datetime(ids.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    return ok & (ids.str.slice(6, 10) != "0000") & birth.notna() & (birth.dt.year <= received_year)


def _uscc_ok(codes: pd.Series) -> pd.Series:
    """GB 32100: 18 characters of the code alphabet and the MOD 31 check character; blank passes."""
    ok = codes.str.fullmatch(r"[0-9]{8}[0-9A-HJ-NP-RTUWXY]{10}").fillna(False).astype(bool)
    candidates = codes[ok]
    lookup = np.zeros(256, dtype=np.int64)
    for index, char in enumerate(USCC_ALPHABET):
        lookup[ord(char)] = index
    total = lookup[_digits(candidates, 17)] @ USCC_WEIGHTS
    expected = np.array(list(USCC_ALPHABET))[(31 - total % 31) % 31]
    ok[ok] = candidates.str.slice(17, 18).to_numpy() == expected
    return ok | codes.isna()


def _lookups(seeds: dict[str, pd.DataFrame]) -> dict[str, dict[str, str]]:
    def key(text: str) -> str:
        return "".join(text.lower().split())

    grades: dict[str, str] = {}
    for row in seeds["skill_grades"].itertuples():
        name, level = row.name_zh, row.national_vocational_level
        labels = [row.grade_code, name, row.name_en, name[:-1] if name.endswith("级工") else None]
        if isinstance(level, str):
            labels += [level, f"{level}/{name}", f"{name}/{level}", f"国家职业资格{level}", f"{name}({level})"]
        for label in labels:
            if isinstance(label, str):
                grades.setdefault(key(label), row.grade_code)
    groups = {
        key(label): row.group_code
        for row in seeds["worker_groups"].itertuples()
        for label in (row.group_code, row.name_zh, row.name_en)
        if isinstance(label, str)
    }
    divisions = seeds["industries"][seeds["industries"]["level"] == "division"]
    sections = {}
    for row in divisions.itertuples():
        sections[row.industry_code.lower()] = row.section_code
        sections[f"{row.section_code}{row.industry_code}".lower()] = row.section_code
    regions = seeds["regions"]
    current = regions[regions["valid_to"].isna() & (regions["level"] != "national")]["region_code"]
    return {"grade": grades, "group": groups, "section": sections, "region": dict.fromkeys(current, "")}


def _read_workers(folder: Path) -> pd.DataFrame:
    frames = []
    for path in sorted(folder.glob("*.csv")):
        frame = _read_text_csv(path, header=0, usecols=list(WORKER_COLUMNS))
        frame.columns = [WORKER_COLUMNS[i] for i in sorted(WORKER_COLUMNS)]
        frame["file_name"] = path.name
        frame["row"] = np.arange(len(frame))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _skill_pyramid(folder: Path, seeds: dict[str, pd.DataFrame], received_on: date, k: int) -> pd.DataFrame:
    raw = _read_workers(folder)
    lookups = _lookups(seeds)
    ids = _code(raw["id_number"])
    employer = _code(raw["employer"])
    region = _code(raw["region"])
    industry = _code(raw["industry"])
    division = industry.str.extract(r"^([A-T]?[0-9]{2})[0-9]{0,2}$")[0].str.lower()
    section = division.map(lookups["section"])
    grade_key, group_key, flag_key = _key(raw["grade"]), _key(raw["group"]), _key(raw["frontline"])
    grade = grade_key.map(lookups["grade"])
    reference_year = _year(raw["reference_year"])
    title_key, title_year_text = _key(raw["title"]), _clean(raw["title_year"])
    title_year = _year(raw["title_year"])

    valid = (
        _id_ok(ids.fillna(""), received_on.year)
        & _uscc_ok(employer)
        & region.isin(lookups["region"])
        & (industry.isna() | section.notna())
        & (grade_key.isna() | grade.notna())
        & (group_key.isna() | group_key.isin(lookups["group"]))
        & (flag_key.isna() | flag_key.isin(YES_NO))
        & (raw["reference_year"].str.strip().eq("") | reference_year.between(FIRST_YEAR, LAST_YEAR))
        & (title_key.isna() | title_key.isin(TITLES | NO_TITLE))
        & (title_year_text.isna() | title_year.between(1950, received_on.year))
        & (title_year_text.isna() | title_key.isin(TITLES))
    )
    workers = pd.DataFrame(
        {
            "file_name": raw["file_name"],
            "row": raw["row"],
            "id_number": ids,
            "employer": employer,
            "reference_year": reference_year,
            "year": reference_year.fillna(received_on.year).astype(int),
            "region_code": region,
            "industry_section_code": section.fillna("_U"),
            "skill_grade_code": grade.fillna("_Z"),
            "is_skill_talent": grade.notna(),
            "is_migrant_worker": group_key.map(lookups["group"]).isin(MIGRANT_GROUPS),
        }
    )[valid.fillna(False).astype(bool)]
    # a repeated row (same worker, employer and year) in one file: the first is kept; then one record
    # per worker and year, the latest file's last row
    workers = workers.drop_duplicates(["file_name", "id_number", "employer", "reference_year"], keep="first")
    workers = workers.sort_values(["file_name", "row"]).drop_duplicates(["id_number", "year"], keep="last")

    placed = workers.merge(seeds["ancestors"], on="region_code").drop(columns="region_code")
    placed = placed.rename(columns={"ancestor_code": "region_code", "ancestor_level": "region_level"})
    high_grades = set(seeds["skill_grades"].loc[seeds["skill_grades"]["is_high_skill"] == "true", "grade_code"])
    placed["is_high_skill"] = placed["skill_grade_code"].isin(high_grades)
    base = ["year", "region_code", "region_level"]
    cells = [
        placed.groupby([*base, "industry_section_code", "skill_grade_code"]).size(),
        placed.groupby([*base, "industry_section_code"]).size(),
        placed.groupby([*base, "skill_grade_code"]).size(),
        placed.groupby(base).size(),
    ]
    counted = pd.concat([c.rename("n").reset_index() for c in cells], ignore_index=True)
    counted["industry_section_code"] = counted["industry_section_code"].fillna("_T")
    counted["skill_grade_code"] = counted["skill_grade_code"].fillna("_T")
    counted["published"] = True
    # the worker shares' counts per region, and the complements a reader can take from them
    per_region = placed.groupby(base).agg(
        n_all=("is_skill_talent", "size"),
        n_hs=("is_high_skill", "sum"),
        n_st=("is_skill_talent", "sum"),
        n_mw=("is_migrant_worker", "sum"),
    )
    shares = {
        "_HS": per_region["n_hs"], "_ST": per_region["n_st"], "_MW": per_region["n_mw"],
        "_LS": per_region["n_st"] - per_region["n_hs"], "_NH": per_region["n_all"] - per_region["n_hs"],
        "_NM": per_region["n_all"] - per_region["n_mw"],
    }  # fmt: skip
    for code, n in shares.items():
        frame = n.rename("n").reset_index()
        frame["industry_section_code"], frame["skill_grade_code"] = "_T", code
        frame["published"] = code in ("_HS", "_ST", "_MW")
        counted = pd.concat([counted, frame], ignore_index=True)
    counted["cell_id"] = (
        counted["year"].astype(str) + "|" + counted["region_code"] + "|" + counted["industry_section_code"]
        + "|" + counted["skill_grade_code"]
    )  # fmt: skip
    withheld = _withhold(counted, seeds, high_grades, k)
    pyramid = counted[~counted["skill_grade_code"].isin(list(shares))]
    hidden = pyramid["cell_id"].map(withheld)
    return pd.DataFrame(
        {
            "year": pyramid["year"].astype("int32"),
            "region_code": pyramid["region_code"],
            "region_level": pyramid["region_level"],
            "industry_section_code": pyramid["industry_section_code"],
            "skill_grade_code": pyramid["skill_grade_code"],
            "n_workers": pyramid["n"].where(~hidden).astype("Int32"),
            "is_suppressed": hidden,
        }
    ).reset_index(drop=True)


def _withhold(cells: pd.DataFrame, seeds: dict[str, pd.DataFrame], high_grades: set[str], k: int) -> pd.Series:
    """Small-cell suppression with complements: which counts (by cell_id) are withheld. A count of 1 to
    k - 1 must stay unknown; while a sum's only unknown member is such a count, its smallest other
    published non-zero member is withheld too (a part before the total), until none is."""
    parent = seeds["regions"].set_index("region_code")["parent_code"]
    ladder = set(seeds["skill_grades"]["grade_code"])
    region_row = cells["industry_section_code"] == "_T"
    in_pyramid = ~cells["skill_grade_code"].isin(["_HS", "_ST", "_MW", "_LS", "_NH", "_NM"])
    key = cells["year"].astype(str) + "|"

    def members(name: str, mask: pd.Series, group: pd.Series, total: pd.Series) -> pd.DataFrame:
        return pd.DataFrame(
            {"sum_id": name + "|" + group[mask], "cell_id": cells["cell_id"][mask], "total": total[mask]}
        )

    grade, section = cells["skill_grade_code"], cells["industry_section_code"]
    every, region = pd.Series(True, index=cells.index), key + cells["region_code"]
    parents = cells["region_code"].map(parent)
    ternary = {
        "ls": ("_HS", "_LS", "_ST"), "nh": ("_HS", "_NH", "_T"), "nm": ("_MW", "_NM", "_T"), "nz": ("_ST", "_Z", "_T")
    }  # fmt: skip
    sums = pd.concat(
        [
            members("row", in_pyramid, key + cells["region_code"] + "|" + section, grade == "_T"),
            members("col", in_pyramid, key + cells["region_code"] + "|" + grade, section == "_T"),
            members("tree", parents.notna(), key + parents.fillna("") + "|" + section + "|" + grade,
                    pd.Series(False, index=cells.index)),
            members("tree", every, region + "|" + section + "|" + grade, every),
            members("hs", region_row & (grade.isin(high_grades) | (grade == "_HS")), key + cells["region_code"],
                    grade == "_HS"),
            members("st", region_row & (grade.isin(ladder) | (grade == "_ST")), key + cells["region_code"],
                    grade == "_ST"),
            *[
                members(name, region_row & grade.isin(codes), key + cells["region_code"], grade == codes[2])
                for name, codes in ternary.items()
            ],
        ],
        ignore_index=True,
    )  # fmt: skip
    sums = sums[sums.groupby("sum_id")["cell_id"].transform("size") > 1]
    sums = sums.merge(cells[["cell_id", "n"]], on="cell_id")
    small = cells["n"].between(1, k - 1)
    unknown = pd.Series((small | ~cells["published"]).to_numpy(), index=cells["cell_id"])
    protect = pd.Series(small.to_numpy(), index=cells["cell_id"])
    while True:
        state = sums.assign(unknown=sums["cell_id"].map(unknown), protect=sums["cell_id"].map(protect))
        state["guarded"] = state["unknown"] & state["protect"]
        counts = state.groupby("sum_id")[["unknown", "guarded"]].sum()
        exposed = counts.index[(counts["unknown"] == 1) & (counts["guarded"] == 1)]
        candidates = state[state["sum_id"].isin(exposed) & ~state["unknown"] & (state["n"] > 0)]
        picked = candidates.sort_values(["sum_id", "total", "n", "cell_id"]).drop_duplicates("sum_id")["cell_id"]
        if picked.empty:
            return unknown
        unknown[picked.unique()] = True
        protect[picked.unique()] = True


if __name__ == "__main__":  # pragma: no cover - a manual run: python -m bench.pandas_peer DATA
    import sys
    import time

    started = time.perf_counter()
    out = run_pandas(Path(sys.argv[1]), Path(__file__).parent.parent / "dbt_project" / "seeds" / "reference")
    print({name: len(frame) for name, frame in out.items()}, f"{time.perf_counter() - started:.1f}s")
