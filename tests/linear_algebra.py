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
