"""Exact linear algebra for the disclosure tests: which unknowns a system of sums fixes, in rationals.

An independent check of ingest.disclosure (which decides with floating-point singular values): here a
sparse Gauss-Jordan elimination over fractions. An unknown is fixed by the equations exactly when, in
the reduced row echelon form, its pivot row has no other unknown.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from fractions import Fraction


def fixed_exactly(equations: Iterable[Mapping[Hashable, int]]) -> set[Hashable]:
    """The unknowns fixed by ``equations`` (each {unknown: coefficient}, right-hand sides left out: they
    do not matter), whatever the right-hand sides."""
    pivots: dict[Hashable, dict[Hashable, Fraction]] = {}  # fully reduced: no row holds another pivot
    for equation in equations:
        row = {k: Fraction(v) for k, v in equation.items() if v}
        for pivot in [k for k in row if k in pivots]:
            factor = row.pop(pivot)
            for k, v in pivots[pivot].items():
                if k != pivot:
                    row[k] = row.get(k, 0) - factor * v
                    if row[k] == 0:
                        del row[k]
        if not row:
            continue
        new = min(row, key=repr)
        scale = row[new]
        row = {k: v / scale for k, v in row.items()}
        for other in pivots.values():
            factor = other.pop(new, None)
            if factor:
                for k, v in row.items():
                    if k != new:
                        other[k] = other.get(k, 0) - factor * v
                        if other[k] == 0:
                            del other[k]
        pivots[new] = row
    return {pivot for pivot, row in pivots.items() if len(row) == 1}


def pinned_by_bounds(
    equations: Iterable[Mapping[Hashable, int]],
    values: Mapping[Hashable, int],
    unknown: set,
    lower: Mapping[Hashable, int],
    targets: Iterable[Hashable],
) -> set[Hashable]:
    """The ``targets`` a reader pins to one whole number with the equations (each {member: coefficient},
    summing to 0 over all its members; a member not in ``unknown`` is published, its value known) and
    what they know of the unknowns (each at least ``lower``, 0 where not given): the least and the
    greatest value of each by linear programming, one target at a time (scipy's HiGHS)."""
    import numpy as np
    from scipy.optimize import linprog

    equations = [e for e in equations if any(m in unknown for m in e)]
    variables = sorted({m for e in equations for m in e if m in unknown}, key=repr)
    column = {m: j for j, m in enumerate(variables)}
    matrix = np.zeros((len(equations), len(variables)))
    rhs = np.zeros(len(equations))
    for i, equation in enumerate(equations):
        for member, coefficient in equation.items():
            if member in column:
                matrix[i, column[member]] += coefficient
            else:
                rhs[i] -= coefficient * values[member]
    bounds = [(lower.get(m, 0), None) for m in variables]
    found = set()
    for target in targets:
        if target not in column:
            continue  # in no equation: anything goes
        objective = np.zeros(len(variables))
        objective[column[target]] = 1
        least, greatest = (
            linprog(s * objective, A_eq=matrix, b_eq=rhs, bounds=bounds, method="highs") for s in (1, -1)
        )
        assert least.status in (0, 3) and greatest.status in (0, 3), "the true values satisfy the equations"
        if (
            least.status == 0
            and greatest.status == 0
            and np.floor(-greatest.fun + 1e-6) - np.ceil(least.fun - 1e-6) < 1
        ):
            found.add(target)
    return found
