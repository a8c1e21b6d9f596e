"""Disclosure control of the trainings, certifications and wages tables (ingest.disclosure.suppress_table).

Each table's rows add up to one another: the regions below a parent to the parent, and, where a table
has an all-categories row ('_T': all grades of the certificates, all occupations of a grade's wages),
the categories to it. A row of 1 to k - 1 persons is withheld ('primary'); then the exact audit solves
each table's sums together, as a reader would, and withholds published rows ('audit') until none of
them can be worked out - one sum at a time or by combining them. A region's own persons (its row
minus its children's) are protected alike. The build fails if a small row cannot be protected. One
row per row of the three tables; fct_training_person_times, fct_skill_certification and
fct_wage_quantile read this.
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
        ("year", "region_code", "skill_grade_code"),
        {"skill_grade_code": "_T"},
        "n_certificates",
        "n_persons",
    ),
    "wages": Table(
        ("year", "region_code", "occupation_key", "skill_grade_code"),
        {"occupation_key": "_T"},
        "n_workers",
        "n_workers",
    ),
}

COLUMNS = {
    "table_name": "string",
    "cell_id": "string",
    "n_persons": "int64",
    "is_small": "bool",
    "is_suppressed": "bool",
    "suppression": "string",
}


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
        reasons = suppress_table(
            keys=list(cells[list(table.keys)].itertuples(index=False, name=None)),
            values=cells[table.value].to_numpy(dtype=np.int64),
            small_values=cells[table.persons].to_numpy(dtype=np.int64),
            parent_of=parent_of,
            region=table.keys.index("region_code"),
            totals={table.keys.index(column): code for column, code in table.totals.items()},
            k=k,
        )
        persons = cells[table.persons].to_numpy(dtype=np.int64)
        audited.append(
            pd.DataFrame(
                {
                    "table_name": name,
                    "cell_id": cells["cell_id"],
                    "n_persons": persons,
                    "is_small": (persons >= 1) & (persons < k),
                    "is_suppressed": [reason is not None for reason in reasons],
                    "suppression": reasons,
                }
            )
        )
    return pd.concat(audited, ignore_index=True)[list(COLUMNS)].astype(COLUMNS)
