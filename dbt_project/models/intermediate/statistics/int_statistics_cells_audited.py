"""Disclosure control of the trainings, certifications, wages and enterprise-share tables
(ingest.disclosure.suppress_table).

Each table's counts add up to one another: the regions below a parent to the parent, and, where a
table has an all-categories row ('_T': all grades of the certificates, all occupations of a grade's
wages), the categories to it; an enterprise share's numerator and complement to its denominator, its
denominator and not-reported count to the enterprises in scope (the 100+ enterprises, the same for
both 100+ shares; all enterprises for the education-fund share) - the complement and the enterprises
in scope are never published. A count of 1 to k - 1 persons or enterprises is withheld ('primary');
then the exact audit solves each table's sums together, as a reader would, and withholds published
counts ('audit') until none of the small ones can be worked out - one sum at a time or by combining
them. A region's own persons (its count minus its children's) are protected alike. The build fails
if a small count cannot be protected. One row per published count: a row of int_trainings_counted,
int_certifications_counted or int_wage_cells_summarised (its cell_id), or an enterprise share's
numerator, denominator or not-reported count (the int_enterprise_shares_counted row's cell_id and
':numerator', ':denominator' or ':not_reported'). The four marts read this.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ingest.disclosure import suppress_table


@dataclass(frozen=True)
class Table:
    keys: tuple[str, ...]
    """The columns that identify a row; the region is one of them."""
    totals: dict[str, str]
    """A key column → the code of its all-categories row."""
    value: str
    """The count the sums hold for."""
    persons: str
    """The count that must not be small (the persons behind the row)."""


TABLES = {
    "trainings": Table(("year", "region_code"), {}, "n_persons", "n_persons"),
    # certificates add up over the grades; the persons behind them do not (one certified at two grades)
    "certifications": Table(
        ("year", "region_code", "skill_grade_code"), {"skill_grade_code": "_T"}, "n_certificates", "n_persons"
    ),
    "wages": Table(
        ("year", "region_code", "occupation_key", "skill_grade_code"),
        {"occupation_key": "_T"},
        "n_workers",
        "n_workers",
    ),
}

SCOPES = {  # an enterprise share → the enterprises its denominator and not-reported count add up to
    "union_100plus": "enterprises_100plus",
    "collective_contract_100plus": "enterprises_100plus",
    "education_fund_frontline_60pct": "enterprises",
}
SHARE_PARTS = (("numerator", True), ("complement", False), ("denominator", True), ("not_reported", True))

COLUMNS = {
    "table_name": "string",
    "cell_id": "string",
    "n_persons": "int64",
    "is_small": "bool",
    "is_suppressed": "bool",
    "suppression": "string",
}


def enterprise_share_cells(shares: pd.DataFrame) -> pd.DataFrame:
    """The enterprise shares' counts, one per row: (year, region_code, series, n, is_published, cell_id);
    a series is '<share>:<part>' or an enterprises-in-scope count. Zeros are left out (a zero is not
    a cell of the audit)."""
    cells: list[tuple] = []
    scope: dict[tuple, int] = {}
    for row in shares.itertuples(index=False):
        numerator = 0 if pd.isna(row.numerator_count) else int(row.numerator_count)
        counts = {
            "numerator": numerator,
            "complement": int(row.denominator_count) - numerator,
            "denominator": int(row.denominator_count),
            "not_reported": int(row.not_reported_count),
        }
        for part, is_published in SHARE_PARTS:
            series = f"{row.share_code}:{part}"
            cells.append((row.year, row.region_code, series, counts[part], is_published, f"{row.cell_id}:{part}"))
        key = (row.year, row.region_code, SCOPES[row.share_code])
        in_scope = counts["denominator"] + counts["not_reported"]
        if scope.setdefault(key, in_scope) != in_scope:
            raise ValueError(f"the two 100+ shares of {key[:2]} count different enterprises in scope")
    cells += [(*key, n, False, None) for key, n in scope.items()]
    frame = pd.DataFrame(cells, columns=["year", "region_code", "series", "n", "is_published", "cell_id"])
    return frame[frame["n"] > 0].sort_values(["year", "region_code", "series"]).reset_index(drop=True)


ENTERPRISE_SUMS = [  # (total, parts) over the series
    *((f"{share}:denominator", (f"{share}:numerator", f"{share}:complement")) for share in SCOPES),
    *((scope, (f"{share}:denominator", f"{share}:not_reported")) for share, scope in SCOPES.items()),
]


def audited_frame(name: str, cell_ids, persons: np.ndarray, reasons: list, k: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table_name": name,
            "cell_id": cell_ids,
            "n_persons": persons,
            "is_small": (persons >= 1) & (persons < k),
            "is_suppressed": [reason is not None for reason in reasons],
            "suppression": reasons,
        }
    )


def model(dbt, session):
    dbt.config(materialized="table")
    k = int(dbt.config.get("disclosure_k"))
    regions = dbt.ref("dim_region").filter("parent_code is not null").df()
    parent_of = dict(zip(regions["region_code"], regions["parent_code"], strict=True))
    tables = {  # dbt reads the refs from the code: literal names
        "trainings": dbt.ref("int_trainings_counted"),
        "certifications": dbt.ref("int_certifications_counted"),
        "wages": dbt.ref("int_wage_cells_summarised"),
    }
    audited = []
    for name, table in TABLES.items():
        cells = tables[name].order("cell_id").df()
        persons = cells[table.persons].to_numpy(dtype=np.int64)
        reasons = suppress_table(
            keys=list(cells[list(table.keys)].itertuples(index=False, name=None)),
            values=cells[table.value].to_numpy(dtype=np.int64),
            small_values=persons,
            parent_of=parent_of,
            region=table.keys.index("region_code"),
            totals={table.keys.index(column): code for column, code in table.totals.items()},
            k=k,
        )
        audited.append(audited_frame(name, cells["cell_id"], persons, reasons, k))

    shares = enterprise_share_cells(dbt.ref("int_enterprise_shares_counted").order("cell_id").df())
    counts = shares["n"].to_numpy(dtype=np.int64)
    published = shares["is_published"].to_numpy(dtype=bool)
    reasons = suppress_table(
        keys=list(shares[["year", "region_code", "series"]].itertuples(index=False, name=None)),
        values=counts,
        small_values=counts,
        parent_of=parent_of,
        region=1,
        totals=None,
        k=k,
        rules={2: ENTERPRISE_SUMS},
        published=published,
    )
    audited.append(
        audited_frame("enterprise_shares", shares["cell_id"], counts, reasons, k)[published].reset_index(drop=True)
    )
    return pd.concat(audited, ignore_index=True)[list(COLUMNS)].astype(COLUMNS)
