"""The exact disclosure audit of published counts: no small count may be solved for from the published sums.

Cell suppression in two steps. Step 1 (dbt, ``int_worker_counts_suppressed``) withholds every count of
1 to k - 1 workers and, while a published sum has one of them as its only unknown member, another
member of that sum - the single-sum rule of the statistical offices' hypercube method. A reader can
still *combine* sums: with the rows and columns of a table and the regions below a parent, the
published totals form a linear system, and a withheld count can be fixed by it although no single
sum has it as the only unknown (the demo had 27 such small counts). Step 2 is this module
(``int_worker_counts_audited``, a dbt Python model, calls :func:`audit_cells`):

- the unknowns are the withheld counts; every sum is an equation ``parts - total = 0`` over them, the
  published members moved to the right-hand side. A sum the true counts do not satisfy - a region
  with workers recorded at the region itself, beyond its children - gets that remainder as one more
  member, never published and protected like any count (:func:`with_remainders`);
- an unknown is fixed by the system exactly when its unit vector lies in the row space of the
  equations' matrix, i.e. when its *leverage* (the squared length of its column in an orthonormal
  basis of the row space, from the singular value decomposition) is 1 (:func:`fixed_unknowns`). The
  system falls apart into independent blocks - the unknowns linked through shared sums - each solved
  on its own (they never cross a year);
- while a small count is fixed, published counts are withheld too: among the candidates of its
  block (each with what step 1's rule then needs), the one withholding the fewest workers that is
  sure to free it - a small least-squares test per candidate (:func:`_solve_block`); failing that,
  a count in the sum weighing most in the combination that gives it away (:func:`_lead`). The blocks
  that changed are solved again, until no small count is fixed. If one cannot be freed, the dbt model
  fails the build.

- then the ranges (:func:`_protect_ranges`): counts are not negative and a row a table lists but
  withholds is at least 1 (zeros are published), so the sums can pin a count to one value that no
  combination of them fixes - a province's 6 technicians over six withheld prefectures are 1 each.
  Each small count's range is solved for by linear programs (HiGHS via scipy) over all the sums of
  its group of linked cells, withheld or published (withholding changes bounds only), and while one
  is pinned, a least-change program - the published counts may change too, each weighed by its
  persons - names the published counts to withhold so that it can move by one; its range is solved
  again to check. A range of two whole numbers is enough here: the hypercube method's wider
  protection intervals are not applied.

The ranges are checked where ``lower`` is given: for the worker counts (demo: 13 counts withheld
beyond the linear audit's; at the benchmark's city scale, where 328 small counts were pinned after
the linear audit, 80, in 8.1 s - the search by single candidates this replaced took 200 s and left 9
pinned) and for the trainings, certifications, wages and enterprise shares below.

On the demo warehouse: 27 small counts fixed after step 1; 18 more counts withheld to free them, then
13 for the ranges. For the fixed ones the right-hand sides (the published values) never matter -
whether a count is fixed depends on the matrix alone; for the ranges they do.

The trainings, certifications, wages and enterprise-share tables (``int_statistics_cells_audited``)
have no step 1: :func:`suppress_table` builds their sums from the rows' keys - regions below a
parent, categories below their '_T' row, and named sums such as numerator + complement = denominator
(:func:`table_sums`) - and runs the audit from the small counts alone (demo: 3, 30, 17 and 5 counts
withheld; without, 3, 33, 5 and 2 small counts could be worked out, and 103 certification rows were
pinned by the bounds after the linear audit).

Pure functions over plain arrays; the dbt models do the reading and writing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_array, hstack

log = logging.getLogger(__name__)

LEVERAGE_TOLERANCE = 1e-6
"""An unknown whose leverage is within this of 1 is fixed. In the sums of these tables (rows, columns,
regions) an unfixed unknown's leverage stays far below (1 - leverage >= 0.08 in blocks of up to 1,100
unknowns, measured against exact elimination). Not so for every 0/±1 system: a chain x_i = x_i+1 +
x_i+2 of 40 gets within 1e-8 of 1 unfixed. An error that way only withholds more, never less."""


def fixed_unknowns(matrix: np.ndarray) -> np.ndarray:
    """Which unknowns (columns) the equations ``matrix @ x = b`` fix, whatever ``b``: x_j is fixed exactly
    when the unit vector e_j is a combination of the rows, i.e. when column j of an orthonormal basis of
    the row space has length 1."""
    rows, columns = matrix.shape
    if rows == 0 or columns == 0:
        return np.zeros(columns, dtype=bool)
    _, singular, basis = np.linalg.svd(matrix, full_matrices=False)
    return _leverage_is_one(basis, _rank(singular, matrix.shape))


def _leverage_is_one(basis: np.ndarray, rank: int) -> np.ndarray:
    return (basis[:rank] ** 2).sum(axis=0) > 1 - LEVERAGE_TOLERANCE


@dataclass(frozen=True)
class Sum:
    """One published sum: its member cells (indices) and which of them is the total."""

    members: tuple[int, ...]
    is_total: tuple[bool, ...]

    def coefficient(self, position: int) -> float:
        return -1.0 if self.is_total[position] else 1.0


@dataclass
class AuditResult:
    withheld: list[int] = field(default_factory=list)
    """Cells withheld by the audit, in the order chosen."""
    unresolved: list[int] = field(default_factory=list)
    """Small counts still fixed: no candidate was sure to free them and MAX_FALLBACKS leads did not
    either, or nothing was left to withhold."""
    rounds: int = 0
    fallbacks: int = 0
    """Times a fixed count had no sure partner and a lead was withheld instead (then solved again)."""
    blocks_solved: int = 0
    largest_block: int = 0


def _blocks(unknown: np.ndarray, sums: Sequence[Sum], sums_of: dict[int, list[int]]) -> list[list[int]]:
    """The cells marked in ``unknown``, grouped into independent blocks: linked when they share a sum."""
    parent: dict[int, int] = {}

    def find(cell: int) -> int:
        root = cell
        while parent[root] != root:
            root = parent[root]
        while parent[cell] != root:
            parent[cell], cell = root, parent[cell]
        return root

    for cell in np.flatnonzero(unknown):
        if sums_of.get(int(cell)):
            parent[int(cell)] = int(cell)
    for total in sums:
        linked = [m for m in total.members if m in parent]
        for other in linked[1:]:
            a, b = find(linked[0]), find(other)
            if a != b:
                parent[b] = a
    grouped: dict[int, list[int]] = defaultdict(list)
    for cell in parent:
        grouped[find(cell)].append(cell)
    return [sorted(cells) for cells in grouped.values()]


@dataclass
class _Block:
    """One block of linked unknowns, solved: which of its protected cells the sums fix, and for each the
    published counts whose withholding frees it (None: no candidate tried does)."""

    fixed: list[int]
    partners: list[list[int] | None]
    leads: dict[int, list[int] | None] = field(default_factory=dict)
    """For a fixed count without a sure partner: what to withhold before solving again (:func:`_lead`)."""


MAX_FALLBACKS = 10
"""Rounds a fixed count without a sure partner gets a lead withheld before it is reported unresolved."""

MAX_CANDIDATES = 2000
"""Candidates tried per fixed count (the cheapest first) before falling back to a lead."""


def _solve_block(
    block: list[int],
    values: np.ndarray,
    unknown: np.ndarray,
    protect: np.ndarray,
    sums: Sequence[Sum],
    sums_of: dict[int, list[int]],
    is_margin: np.ndarray,
) -> _Block:
    """Solve one block (A x = b over its unknowns, A from the sums touching it, by SVD) and choose partners.

    A fixed count d is e_d = y^T A for some y (the combination of sums that gives it away); the y form
    y0 + (the left null space of A, basis L). Withholding a set C of published counts (a candidate and
    what step 1's single-sum rule then needs, :func:`_with_single_sum_partners`) adds their columns A_C
    and the rows R_C of their sums that do not touch the block. d stays fixed exactly when some y and z
    give y^T A_C + z^T R_C = 0, i.e. when -y0^T A_C lies in the row space of [L^T A_C; R_C]: a small
    least-squares problem per candidate. The candidate that frees d withholding the fewest workers is
    its partner. (Another block's unknowns in R_C are taken as known: that can only
    reject a candidate, and the next round checks the result anyway.)"""
    equations = _equations(block, sums_of)
    row = {s: i for i, s in enumerate(equations)}
    matrix = _matrix(block, equations, sums)
    left, singular, basis = np.linalg.svd(matrix, full_matrices=True)
    rank = _rank(singular, matrix.shape)
    fixed_columns = [j for j in np.flatnonzero(_leverage_is_one(basis, rank)) if protect[block[j]]]
    if not fixed_columns:
        return _Block([], [], {})
    span, null = left[:, :rank], left[:, rank:]
    giving_away = span @ (basis[:rank, fixed_columns] / singular[:rank, None])  # y0 for each fixed cell
    withheld_with = {
        m: _with_single_sum_partners(m, values, unknown, sums, sums_of)
        for m in {m for s in equations for m in sums[s].members if not unknown[m] and values[m] > 0}
    }
    # the least withheld first: fewest workers, then fewest counts, then a part before a margin
    candidates = sorted(
        withheld_with,
        key=lambda m: (int(values[withheld_with[m]].sum()), len(withheld_with[m]), bool(is_margin[m]), m),
    )
    trials: dict[int, tuple[list[int], np.ndarray, np.ndarray]] = {}

    def trial(candidate: int) -> tuple[list[int], np.ndarray, np.ndarray]:
        if candidate not in trials:
            cells = withheld_with[candidate]
            index = {cell: k for k, cell in enumerate(cells)}
            inside = np.zeros((len(equations), len(cells)))
            outside_rows: dict[int, np.ndarray] = {}
            for cell in cells:
                for s in sums_of[cell]:
                    total = sums[s]
                    coefficient = total.coefficient(total.members.index(cell))
                    if s in row:
                        inside[row[s], index[cell]] += coefficient
                    else:
                        outside_rows.setdefault(s, np.zeros(len(cells)))[index[cell]] += coefficient
            outside = np.array(list(outside_rows.values())).reshape(-1, len(cells))
            constraints = np.vstack([null.T @ inside, outside])
            # exact zeros come out as rounding noise (~1e-17); left in, lstsq's relative cutoff would
            # count them as rank and reject a candidate that frees d. True entries are O(1): L is
            # orthonormal, A_C integer.
            constraints[np.abs(constraints) < 1e-9] = 0.0
            trials[candidate] = (cells, inside, constraints)
        return trials[candidate]

    def frees(candidate: int, f: int) -> bool:
        _, inside, constraints = trial(candidate)
        target = giving_away[:, f] @ inside
        if not constraints.shape[0]:
            return bool(np.linalg.norm(target) > 1e-8)
        solution = np.linalg.lstsq(constraints.T, target, rcond=None)[0]
        return bool(np.linalg.norm(constraints.T @ solution - target) > 1e-8 * (1 + np.linalg.norm(target)))

    partners: list[list[int] | None] = []
    leads: dict[int, list[int] | None] = {}
    chosen_before: list[int] = []
    for f in range(len(fixed_columns)):
        chosen = next((c for c in chosen_before if frees(c, f)), None)  # one partner may free several
        if chosen is None:
            chosen = next((c for c in candidates[:MAX_CANDIDATES] if frees(c, f)), None)
        if chosen is None:
            partners.append(None)
            leads[block[fixed_columns[f]]] = _lead(giving_away[:, f], equations, values, unknown, sums, withheld_with)
            continue
        if chosen not in chosen_before:
            chosen_before.append(chosen)
        partners.append(trials[chosen][0])
    return _Block([block[j] for j in fixed_columns], partners, leads)


def _lead(
    weights: np.ndarray,
    equations: list[int],
    values: np.ndarray,
    unknown: np.ndarray,
    sums: Sequence[Sum],
    withheld_with: dict[int, list[int]],
) -> list[int] | None:
    """When no single candidate frees a fixed count: withhold in the sum that weighs most in the
    combination giving it away (the smallest published non-zero member, with its single-sum partners),
    and solve again."""
    for i in np.argsort(-np.abs(weights), kind="stable"):
        if abs(weights[i]) < 1e-9:
            break
        members = [m for m in sums[equations[i]].members if not unknown[m] and values[m] > 0]
        if members:
            return withheld_with[min(members, key=lambda m: (int(values[m]), m))]
    return None


def _equations(block: list[int], sums_of: dict[int, list[int]]) -> list[int]:
    """The sums touching a block (its equations), in index order."""
    return sorted({s for cell in block for s in sums_of[cell]})


def _matrix(block: list[int], equations: list[int], sums: Sequence[Sum]) -> np.ndarray:
    """The equations' coefficients on the block's unknowns (a row per sum, a column per cell)."""
    column = {cell: j for j, cell in enumerate(block)}
    matrix = np.zeros((len(equations), len(block)))
    for i, s in enumerate(equations):
        total = sums[s]
        for position, member in enumerate(total.members):
            if member in column:
                matrix[i, column[member]] += total.coefficient(position)
    return matrix


def _rank(singular: np.ndarray, shape: tuple[int, int]) -> int:
    if not singular.size or singular[0] == 0:
        return 0
    return int((singular > singular[0] * max(shape) * np.finfo(float).eps * 16).sum())


def _complement(
    cells: Iterable[int],
    values: np.ndarray,
    unknown: np.ndarray,
    sums: Sequence[Sum],
    sums_of: dict[int, list[int]],
    exclude: AbstractSet[int] = frozenset(),
) -> int | None:
    """A published non-zero count in a sum with one of ``cells`` (a part before a total, then the smallest
    count, then the first cell): the fallback when no count of the block is sure to free a fixed one."""
    best: tuple[bool, int, int] | None = None
    for cell in cells:
        for s in sums_of[cell]:
            total = sums[s]
            for position, member in enumerate(total.members):
                if not unknown[member] and member not in exclude and values[member] > 0:
                    key = (total.is_total[position], int(values[member]), member)
                    best = key if best is None or key < best else best
    return None if best is None else best[2]


def _beside(
    cell: int, values: np.ndarray, unknown: np.ndarray, sums: Sequence[Sum], sums_of: dict[int, list[int]]
) -> list[int] | None:
    """The fallback when no candidate is sure to free ``cell``: the cheapest published non-zero count in
    a sum with it (:func:`_complement`) and what step 1's rule then needs, or None when there is none."""
    pick = _complement([cell], values, unknown, sums, sums_of)
    return None if pick is None else _with_single_sum_partners(pick, values, unknown, sums, sums_of)


def _with_single_sum_partners(
    cell: int, values: np.ndarray, unknown: np.ndarray, sums: Sequence[Sum], sums_of: dict[int, list[int]]
) -> list[int]:
    """``cell`` and what withholding it takes: while a sum would have one withheld count as its only unknown
    (the published rest gives it away), the smallest other published non-zero member is withheld too -
    step 1's single-sum rule, for the audit's own cells. ``unknown`` is not changed."""
    if unknown[cell]:
        return []
    withheld = {cell}
    queue = [cell]
    while queue:
        current = queue.pop()
        for s in sums_of[current]:
            total = sums[s]
            if sum(1 for m in total.members if unknown[m] or m in withheld) != 1:
                continue
            pick = _complement([current], values, unknown, [total], {current: [0]}, exclude=withheld)
            if pick is not None:
                withheld.add(pick)
                queue.append(pick)
    return sorted(withheld)


def with_remainders(
    values: np.ndarray,
    unknown: np.ndarray,
    protect: np.ndarray,
    sums: Sequence[Sum],
    k: int,
    small_values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Sum]]:
    """Make every sum exact. A region's count is its children's plus the workers recorded at the region
    itself, which no table shows: where the true counts do not add up, that remainder is one more
    member of the sum - never published, and protected like any count of 1 to k - 1 (a parent minus
    its published children would give it away). Returns the arrays and sums with those cells appended
    (indices from ``len(values)`` on). A sum whose parts exceed its total cannot be and is refused.
    ``small_values``: where the count that must not be small is another than ``values`` (persons
    certified behind a count of certificates), the remainder is protected when its remainder is small."""
    values = np.asarray(values)
    small_values = values if small_values is None else np.asarray(small_values)
    extra: list[int] = []
    small_extra: list[int] = []
    exact: list[Sum] = []
    for total in sums:
        balance = _balance(values, total)
        if balance > 0:
            raise ValueError(f"the parts of a sum exceed its total by {balance}: cells {total.members}")
        if balance < 0:
            exact.append(Sum((*total.members, len(values) + len(extra)), (*total.is_total, False)))
            extra.append(-balance)
            small_extra.append(-_balance(small_values, total))
        else:
            exact.append(total)
    remainders = np.array(extra, dtype=values.dtype)
    small_remainders = np.array(small_extra, dtype=small_values.dtype)
    return (
        np.concatenate([values, remainders]),
        np.concatenate([np.asarray(unknown, dtype=bool), np.ones(len(extra), dtype=bool)]),
        np.concatenate([np.asarray(protect, dtype=bool), (small_remainders >= 1) & (small_remainders < k)]),
        exact,
    )


def _balance(values: np.ndarray, total: Sum) -> int:
    """The parts of a sum minus its total."""
    return sum(int(values[m]) * (-1 if t else 1) for m, t in zip(total.members, total.is_total, strict=True))


def audit_cells(
    values: np.ndarray,
    unknown: np.ndarray,
    protect: np.ndarray,
    sums: Sequence[Sum],
    k: int | None = None,
    small_values: np.ndarray | None = None,
    lower: np.ndarray | None = None,
) -> AuditResult:
    """Withhold published counts until no protected count is fixed by the sums.

    ``values``: the true counts, one per cell; ``unknown``: withheld or never published; ``protect``: a
    small count (must stay unknown; every protected cell must be unknown); ``sums``: the equations.
    With ``k``, a sum the true counts do not satisfy gets its remainder as a member
    (:func:`with_remainders`, which ``small_values`` is passed to); without, every sum must hold.
    Returns the cells to withhold as well (``unknown`` is not changed; remainders are never withheld,
    they are unknown already). Each round solves the blocks that changed and gives every fixed small
    count a partner; withholding more never fixes a count that was not, so the rounds end when no
    small count is fixed.

    With ``lower`` - what a reader knows each count to be at least (1 for a row a table lists but
    withholds: it never withholds a zero; a remainder gets 0) - the ranges are checked too
    (:func:`_protect_ranges`): counts are not negative, so sums can pin a count down to one value
    although no combination of them fixes it (a parent of 6 over 6 withheld children: each is 1)."""
    cells = len(values)
    if k is not None:
        values, unknown, protect, sums = with_remainders(values, unknown, protect, sums, k, small_values)
    values = np.asarray(values)
    unknown = np.array(unknown, dtype=bool)
    protect = np.asarray(protect, dtype=bool)
    if (protect[:cells] & ~unknown[:cells]).any():
        raise ValueError("a protected (small) count is published: step 1 must withhold it first")
    sums_of: dict[int, list[int]] = defaultdict(list)
    is_margin = np.zeros(len(values), dtype=bool)
    for s, total in enumerate(sums):
        for member, is_total in zip(total.members, total.is_total, strict=True):
            sums_of[member].append(s)
            is_margin[member] |= is_total
    result = AuditResult()
    solved: dict[tuple[int, ...], _Block] = {}
    given_up: set[int] = set()
    tries: dict[int, int] = defaultdict(int)
    while True:
        result.rounds += 1
        chosen: set[int] = set()
        for block in _blocks(unknown, sums, sums_of):
            if not protect[block].any():
                continue
            key = tuple(block)
            if key not in solved:
                solved[key] = _solve_block(block, values, unknown, protect, sums, sums_of, is_margin)
                result.blocks_solved += 1
                result.largest_block = max(result.largest_block, len(block))
            for cell, partners in zip(solved[key].fixed, solved[key].partners, strict=True):
                if cell in given_up:
                    continue
                if partners is None and tries[cell] >= MAX_FALLBACKS:
                    given_up.add(cell)
                    continue
                if partners is None:  # none tried frees it: withhold where it is given away, and solve again
                    tries[cell] += 1
                    partners = solved[key].leads.get(cell)
                    if partners is None:
                        partners = _beside(cell, values, unknown, sums, sums_of)
                    result.fallbacks += partners is not None
                if partners is None:
                    given_up.add(cell)
                else:
                    chosen.update(partners)
        if not chosen:
            break
        for cell in sorted(chosen):
            unknown[cell] = True
            result.withheld.append(cell)
    # a count given up may have been freed since by partners withheld for others: report the fixed only
    still_fixed: set[int] = set()
    for block in _blocks(unknown, sums, sums_of):
        if given_up.intersection(block):
            matrix = _matrix(block, _equations(block, sums_of), sums)
            still_fixed.update(block[j] for j in np.flatnonzero(fixed_unknowns(matrix)))
    result.unresolved = sorted(given_up & still_fixed)
    if lower is not None:  # a count the sums fix has one value in its range too: the ranges free it as well
        _protect_ranges(values, unknown, protect, sums, sums_of, _lower_bounds(lower, values, unknown, cells), result)
    if result.unresolved:
        log.warning("%d small counts stay fixed by the sums with nothing left to withhold", len(result.unresolved))
    return result


def _lower_bounds(lower: np.ndarray, values: np.ndarray, unknown: np.ndarray, cells: int) -> np.ndarray:
    """``lower`` for the cells, 0 for the remainders after them; checked against the true counts."""
    lower = np.asarray(lower, dtype=float)
    if lower.shape != (cells,):
        raise ValueError(f"lower has {lower.size} bounds for {cells} cells: give one per cell")
    bounds = np.concatenate([lower, np.zeros(len(values) - cells)])
    below = np.flatnonzero(unknown & (values < bounds))
    if below.size:
        raise ValueError(
            f"{below.size} withheld counts are below the least value a reader is told they have (first: cell"
            f" {below[0]}, {values[below[0]]} < {bounds[below[0]]:g}): a table that withholds a zero must give it"
            " lower bound 0"
        )
    return bounds


class _Ranges:
    """The linear programs of one group of cells, withheld or published, that sums link (withholding a
    count changes the ranges of its group only): every sum an equation ``parts - total = 0`` over all
    its members; a published count held at its value by its bounds, a withheld one from its lower
    bound up. Withholding a count, or trying to, changes bounds only."""

    def __init__(
        self,
        cells: Sequence[int],
        values: np.ndarray,
        sums: Sequence[Sum],
        sums_of: dict[int, list[int]],
        unknown: np.ndarray,
        lower: np.ndarray,
    ) -> None:
        self.column = {c: j for j, c in enumerate(cells)}
        rows, columns, coefficients = [], [], []
        for i, s in enumerate(sorted({s for c in cells for s in sums_of[c]})):
            for position, member in enumerate(sums[s].members):
                rows.append(i)
                columns.append(self.column[member])
                coefficients.append(sums[s].coefficient(position))
        self.matrix = csr_array((coefficients, (rows, columns)), shape=(max(rows, default=-1) + 1, len(cells)))
        self.by_column = self.matrix.tocsc()
        self.values = np.asarray(values, dtype=float)[list(cells)]
        self.least = np.asarray(lower, dtype=float)[list(cells)]
        self.low = np.where(unknown[list(cells)], self.least, self.values)
        self.high = np.where(unknown[list(cells)], np.inf, self.values)

    def withhold(self, cells: Iterable[int]) -> None:
        j = [self.column[c] for c in cells]
        self.low[j], self.high[j] = self.least[j], np.inf

    def _solve(
        self, objective: np.ndarray, free: Iterable[int] = (), cap: bool = False
    ) -> tuple[int, float, np.ndarray]:
        """Minimise ``objective`` over the cells' values, the published ``free`` withheld too: (the
        solver's status, the least value, the cells' values). The program handed to HiGHS has the
        unknowns only, the published counts moved to the right-hand side (twice as fast as leaving
        that to its presolve)."""
        low, high = self.low.copy(), self.high.copy()
        j = [self.column[c] for c in free]
        low[j], high[j] = self.least[j], np.inf
        if cap:  # bounded, so that a program moving many counts at once has an optimum
            high = np.minimum(high, self.values + 1e6)
        unknown = low != high
        rhs = -(self.matrix @ np.where(unknown, 0.0, self.values))
        columns = np.flatnonzero(unknown)
        matrix = self.by_column[:, columns].tocsr()
        rows = np.flatnonzero(np.diff(matrix.indptr) > 0)
        solved = linprog(
            objective[columns],
            A_eq=matrix[rows] if len(rows) else None,
            b_eq=rhs[rows] if len(rows) else None,
            bounds=np.column_stack([low[columns], high[columns]]),
            method="highs",
        )
        if solved.status == 2:
            raise ValueError("the sums cannot hold with the true counts: a sum is wrong")
        _check_solved(solved)
        x = self.values.copy()
        if solved.status == 0:
            x[columns] = solved.x
        return solved.status, float(solved.fun) if solved.status == 0 else np.nan, x

    def is_pinned(self, cell: int, free: Iterable[int] = ()) -> bool:
        """Whether the sums and bounds leave ``cell`` one whole number only, with the published ``free``
        withheld too: the true count v is in its range, so a second one is there exactly when the least
        is v - 1 or below or the greatest v + 1 or above (at most two linear programs, HiGHS)."""
        free = list(free)
        j = self.column[cell]
        for sign in (1.0, -1.0):
            objective = np.zeros(len(self.column))
            objective[j] = sign
            status, least, _ = self._solve(objective, free)
            if status != 0 or least <= sign * self.values[j] - 1 + 1e-6:  # least <= v - 1, greatest >= v + 1
                return False
        return True

    def cheapest_widening(self, cell: int) -> list[int] | None:
        """The published counts to free so that ``cell`` can be 1 lower or 1 higher, from one linear
        program per way: the least persons-weighted change of published counts, over all the values
        the cells can take with the sums holding, the withheld ones at their lower bounds or above and
        ``cell`` moved by 1 (a published count that changes must be withheld; the weight is its count,
        so that the fewest persons are withheld). The cheaper way's changed counts, or None when
        neither way is possible. Where a changed count is in a sum, another member changes too, so
        step 1's single-sum rule holds for them."""
        unknown = np.flatnonzero(self.low != self.high)
        movable = np.flatnonzero((self.low == self.high) & (self.values > 0))
        # columns: the unknowns' values, then each movable count's rise and fall (its value v + rise - fall)
        matrix = hstack([self.by_column[:, unknown], self.by_column[:, movable], -self.by_column[:, movable]]).tocsr()
        rows = np.flatnonzero(np.diff(matrix.indptr) > 0)
        matrix = matrix[rows]
        rhs = -(self.by_column[:, movable] @ self.values[movable])[rows]
        objective = np.r_[np.zeros(len(unknown)), self.values[movable], self.values[movable]]
        bounds = np.column_stack(
            [
                np.r_[self.low[unknown], np.zeros(2 * len(movable))],
                np.r_[self.high[unknown], np.full(len(movable), np.inf), self.values[movable] - self.least[movable]],
            ]
        )
        j = int(np.searchsorted(unknown, self.column[cell]))
        best: tuple[float, list[int]] | None = None
        for lowest, highest in ((bounds[j, 0], self.values[unknown[j]] - 1), (self.values[unknown[j]] + 1, np.inf)):
            if highest < lowest:
                continue
            moved = bounds.copy()
            moved[j] = (lowest, highest)
            solved = linprog(objective, A_eq=matrix, b_eq=rhs, bounds=moved, method="highs")
            if solved.status == 2:  # it cannot move this way whatever is withheld
                continue
            _check_solved(solved)
            shift = solved.x[len(unknown) :]
            changed = shift[: len(movable)] + shift[len(movable) :] > 1e-6
            cost = float(self.values[movable][changed].sum())
            if best is None or cost < best[0]:
                cells = list(self.column)
                best = (cost, [cells[i] for i in movable[changed]])
        return None if best is None else best[1]

    def unmoved(self, cells: Sequence[int]) -> list[int]:
        """``cells`` less those linear programs moving them all at once move by 1 or more (not pinned: the
        true count is feasible too), alternately all as low and all as high as they go, while that
        frees any; the rest may be pinned (:meth:`is_pinned` tells)."""
        open_ = list(cells)
        stalled = 0
        sign = 1.0
        while open_ and stalled < 2:
            objective = np.zeros(len(self.column))
            objective[[self.column[c] for c in open_]] = sign
            status, _, x = self._solve(objective, cap=True)
            if status != 0:
                break
            still = [c for c in open_ if abs(x[self.column[c]] - self.values[self.column[c]]) < 1 - 1e-6]
            stalled = stalled + 1 if len(still) == len(open_) else 0
            open_, sign = still, -sign
        return open_


def _protect_ranges(
    values: np.ndarray,
    unknown: np.ndarray,
    protect: np.ndarray,
    sums: Sequence[Sum],
    sums_of: dict[int, list[int]],
    lower: np.ndarray,
    result: AuditResult,
) -> None:
    """Withhold published counts until the range of every protected count holds two whole numbers at
    least (the hypercube method's protection interval, at its narrowest: never pinned to one value).

    Per group of linked cells, one set of linear programs (:class:`_Ranges`); the protected counts that
    programs moving them all at once leave in place are checked one by one, and each one pinned gets
    published counts withheld until it is not (:func:`_widening_partners`). Withholding more only
    widens ranges, so one pass over the group is enough. Changes ``unknown`` and ``result`` in place."""
    unresolved: list[int] = []
    for group in _blocks(np.ones(len(values), dtype=bool), sums, sums_of):  # all cells, linked by sums
        given_up: list[int] = []
        protected = [c for c in group if protect[c] and sums_of[c]]
        if not protected:
            continue
        ranges = _Ranges(group, values, sums, sums_of, unknown, lower)
        queue = ranges.unmoved(protected)
        while queue:
            cell = queue.pop(0)
            partners = _widening_partners(cell, ranges)
            if partners is None:
                given_up.append(cell)
                continue
            for partner in partners:
                unknown[partner] = True
                result.withheld.append(partner)
            ranges.withhold(partners)
            if partners:
                queue = ranges.unmoved(queue)
        # a count given up (a check failed) may have been widened since by partners withheld for others
        given_up = [cell for cell in given_up if ranges.is_pinned(cell)]
        unresolved.extend(given_up)
    result.unresolved = sorted(unresolved)


def _check_solved(solved) -> None:
    """A linear program HiGHS did not finish (an iteration limit, numerical trouble) says nothing about a
    range: stop rather than read it as an answer."""
    if solved.status not in (0, 2, 3):
        raise RuntimeError(f"HiGHS did not solve a range's linear program: {solved.message} (status {solved.status})")


def _widening_partners(cell: int, ranges: _Ranges) -> list[int] | None:
    """Published counts whose withholding leaves ``cell``'s range two whole numbers wide: those a
    least-change program moves (:meth:`_Ranges.cheapest_widening`; [] when its range is that wide
    already), checked by solving for its range again. None when no withholding in its group would do,
    or the check fails."""
    changed = ranges.cheapest_widening(cell)
    if changed is None or (changed and ranges.is_pinned(cell, changed)):
        return None
    return changed


# ---- tables of counts by region and category: the trainings, certifications and wages marts ----


def table_sums(
    keys: Sequence[tuple],
    parent_of: Mapping[str, str | None],
    region: int,
    totals: Mapping[int, str] | None = None,
    rules: Mapping[int, Sequence[tuple[str, Sequence[str]]]] | None = None,
) -> list[Sum]:
    """The sums a table of counts publishes, from its cells' keys (one tuple per cell, in cell order).

    ``region``: the position of the region in a key; a region's cell is the sum of the cells of the
    regions whose parent it is (``parent_of``), the rest of the key alike (the region's own
    persons, if any, are :func:`with_remainders`'s). ``totals``: key position → the code of the
    total over that position ('_T'): the cell with it is the sum of the cells with any other code
    there. ``rules``: key position → (total code, part codes) pairs, for sums over some codes only
    (a denominator = its numerator + its complement). A cell missing from the table is a zero and
    not a member; a sum whose total is missing is left out."""
    position = {key: i for i, key in enumerate(keys)}
    if len(position) != len(keys):
        raise ValueError("two cells of the table have the same key")
    parts: dict[tuple, list[int]] = defaultdict(list)
    for key, i in position.items():
        parent = parent_of.get(key[region])
        if parent is not None:
            parts[("region", *key[:region], parent, *key[region + 1 :])].append(i)
        for at, code in (totals or {}).items():
            if key[at] != code:
                parts[(f"total {at}", *key[:at], code, *key[at + 1 :])].append(i)
        for at, sums_at in (rules or {}).items():
            for n, (code, of) in enumerate(sums_at):
                if key[at] in of:
                    parts[(f"rule {at} {n}", *key[:at], code, *key[at + 1 :])].append(i)
    sums = []
    for (_, *total), members in parts.items():
        if tuple(total) in position:
            sums.append(Sum((*members, position[tuple(total)]), (*(False,) * len(members), True)))
    return sums


def suppress_table(
    keys: Sequence[tuple],
    values: np.ndarray,
    small_values: np.ndarray,
    parent_of: Mapping[str, str | None],
    region: int,
    totals: Mapping[int, str] | None,
    k: int,
    rules: Mapping[int, Sequence[tuple[str, Sequence[str]]]] | None = None,
    published: np.ndarray | None = None,
) -> list[str | None]:
    """Disclosure control of one table of counts: which cells to withhold, and why.

    A cell whose ``small_values`` count (the persons behind it) is 1 to k - 1 is withheld ('primary');
    then the audit (:func:`audit_cells`) solves the table's sums (:func:`table_sums`, exact for
    ``values``) and withholds published cells ('audit') until no combination of them fixes a primary
    cell or a region's own persons of 1 to k - 1, nor pins one to a single value (the counts are not
    negative and a listed row withheld is at least 1: ranges, :func:`_protect_ranges`; for two counts,
    the persons' ranges over the regions' sums too). ``values`` and ``small_values`` may be one count
    (persons) or two (certificates, which add up over the grades, and the distinct persons behind
    them, who do not: one person certified at two grades). ``rules``: see :func:`table_sums`.
    ``published``: false for a count the table never shows (an enterprise share's complement), which
    is unknown but protected like any other. Returns one reason or None per cell ('primary' for a
    published small count, None for one never published); raises ValueError naming the cells when a
    small count cannot be protected."""
    values = np.asarray(values, dtype=np.int64)
    small_values = np.asarray(small_values, dtype=np.int64)
    shown = np.ones(len(values), dtype=bool) if published is None else np.asarray(published, dtype=bool)
    small = (small_values >= 1) & (small_values < k)
    primary = small & shown
    lower = (shown & (values >= 1)).astype(float)  # a listed row withheld is never a zero
    result = audit_cells(
        values,
        small | ~shown,
        small,
        table_sums(keys, parent_of, region, totals, rules),
        k=k,
        small_values=small_values,
        lower=lower,
    )
    if not result.unresolved and not np.array_equal(values, small_values):
        # the persons add up over the regions only: their ranges are checked on those sums
        unknown = small | ~shown
        unknown[result.withheld] = True
        persons = audit_cells(small_values, unknown, small, table_sums(keys, parent_of, region), k=k, lower=lower)
        result.withheld += persons.withheld
        result.unresolved = persons.unresolved
    if result.unresolved:
        named = [keys[c] if c < len(keys) else "the own persons of a region" for c in result.unresolved]
        raise ValueError(
            f"{len(named)} small counts stay derivable from the published sums and nothing more could be"
            f" withheld to stop it (first: {named[:5]}): nothing is published; see ingest/disclosure.py"
        )
    reasons: list[str | None] = ["primary" if p else None for p in primary]
    for cell in result.withheld:
        reasons[cell] = "audit"
    return reasons
