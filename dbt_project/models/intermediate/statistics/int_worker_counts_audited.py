"""Disclosure control of the worker counts, step 2 of 2: the exact audit (ingest.disclosure).

Step 1 (int_worker_counts_suppressed) makes sure no single published sum gives a small count away.
Here all the sums (int_worker_count_sums) are solved together, as a reader combining them would:
while some combination fixes a count of 1 to k - 1, the published counts that free it withholding the
fewest workers are withheld too (suppression 'audit'). A region's own workers (its count minus its
children's) are counts too, never published. Then the ranges: a count the marts list but withhold is
at least 1 (zeros are published; a complement or a region's own workers at least 0), so the sums can
pin one to a single value no combination fixes; while one is, the published counts a least-change
linear program moves are withheld too. The build fails if a small count cannot be protected.
One row per published count - the pyramid's cells and the shares' counts - with the true count and
whether the marts withhold it; fct_skill_grade_pyramid and fct_worker_share read this.
"""

import itertools

import numpy as np
import pandas as pd

from ingest.disclosure import Sum, audit_cells

COLUMNS = {
    "year": "int32",
    "region_code": "string",
    "region_level": "string",
    "industry_section_code": "string",
    "skill_grade_code": "string",
    "is_share_count": "bool",
    "n_workers": "int64",
    "is_suppressed": "bool",
    "suppression": "string",
}


def model(dbt, session):
    dbt.config(materialized="table")
    counts = dbt.ref("int_worker_counts_suppressed").order("cell_id").df()
    members = dbt.ref("int_worker_count_sums").order("sum_id, cell_id").df()

    cell = pd.Index(counts["cell_id"]).get_indexer(members["cell_id"])
    if (cell < 0).any():
        raise ValueError("int_worker_count_sums names a cell int_worker_counts_suppressed does not have")
    starts = np.flatnonzero(np.r_[True, members["sum_id"].to_numpy()[1:] != members["sum_id"].to_numpy()[:-1]])
    bounds = np.r_[starts, len(members)] if len(members) else np.array([0])
    is_total = members["is_total"].to_numpy(dtype=bool)
    sums = [
        Sum(tuple(int(c) for c in cell[a:b]), tuple(bool(t) for t in is_total[a:b]))
        for a, b in itertools.pairwise(bounds)
    ]
    result = audit_cells(
        counts["n_workers"].to_numpy(),
        counts["is_suppressed"].to_numpy(dtype=bool),
        counts["is_small"].to_numpy(dtype=bool),
        sums,
        k=int(dbt.config.get("disclosure_k")),
        lower=counts["is_published"].to_numpy(dtype=float),
    )
    if result.unresolved:
        named = [
            counts["cell_id"].iloc[c] if c < len(counts) else "the own workers of a region" for c in result.unresolved
        ]
        raise ValueError(
            f"{len(named)} small worker counts stay derivable from the published sums (or pinned to one value by"
            " them) and nothing more could be"
            f" withheld to stop it (first: {named[:5]}): nothing is published; see ingest/disclosure.py"
        )
    withheld = np.zeros(len(counts), dtype=bool)
    withheld[result.withheld] = True

    audited = counts.assign(
        is_suppressed=counts["is_suppressed"].to_numpy(dtype=bool) | withheld,
        suppression=counts["suppression"].astype("string").mask(withheld, "audit"),
    )
    published = audited[audited["is_published"].to_numpy(dtype=bool)]
    return published[list(COLUMNS)].astype(COLUMNS).reset_index(drop=True)
