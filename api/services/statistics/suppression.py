"""Small-cell protection of a release of figures: which counts are published and which are not.

A release is every count published together for one scope (the network, or one organisation)
and one quarter: each a named ``cell`` with its value, and the ``Sum`` relations between them
(a row total is the sum of its row, a region the sum of its districts, the quarter the sum of its
months). Whoever reads the release knows the relations, so protecting a small count takes more
than hiding it:

1. **Primary suppression.** A count from 1 to ``threshold - 1`` is not published. A zero is
   published (it says no referral, not which person).
2. **Secondary suppression.** No hidden count may be *determined* by the published ones: in the
   linear system the relations make over the hidden counts (the published ones being known), a
   hidden count is determined exactly when its unit vector is in the row space, i.e. when the
   system's reduced row echelon form has a row naming that count alone. While one is, a further
   count of a relation it appears in is hidden (the smallest non-zero published part, else a
   zero part, else the relation's total), and the check runs again. It ends: each round hides one
   more count, and with everything hidden nothing is determined.

The relations of one release span every table of it, so a count shared by two tables (a
status's total and its reasons' total) is one cell with one decision, and what is hidden in one
table cannot be worked out from another. docs/statistics.md says why this is enough for the
queries the API allows (fixed, non-overlapping breakdowns of fixed quarters).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

MINIMUM_THRESHOLD = 3
"""Below this no threshold protects anyone: the settings refuse it."""


@dataclass(frozen=True)
class Sum:
    """``total`` is the sum of ``parts`` (cell names)."""

    total: str
    parts: tuple[str, ...]


def primary(values: Mapping[str, int], threshold: int) -> set[str]:
    """The counts too small to publish."""
    if threshold < MINIMUM_THRESHOLD:
        raise ValueError(f"a threshold below {MINIMUM_THRESHOLD} protects no one")
    return {name for name, value in values.items() if 0 < value < threshold}


def determined(relations: Sequence[Sum], hidden: Iterable[str]) -> set[str]:
    """The hidden counts the published ones and ``relations`` pin down exactly."""
    unknowns = sorted(set(hidden))
    column = {name: index for index, name in enumerate(unknowns)}
    rows: list[list[Fraction]] = []
    for relation in relations:
        row = [Fraction(0)] * len(unknowns)
        for name, sign in ((relation.total, -1), *((part, 1) for part in relation.parts)):
            if name in column:
                row[column[name]] += sign
        if any(row):
            rows.append(row)
    return {unknowns[index] for index in _single_pivots(rows, len(unknowns))}


def _single_pivots(rows: list[list[Fraction]], width: int) -> list[int]:
    """Gauss-Jordan elimination; the pivot columns whose row has no other non-zero entry."""
    pivot_rows: list[tuple[int, list[Fraction]]] = []
    remaining = rows
    for col in range(width):
        chosen = next((row for row in remaining if row[col] != 0), None)
        if chosen is None:
            continue
        remaining = [row for row in remaining if row is not chosen]
        scale = chosen[col]
        chosen = [value / scale for value in chosen]
        remaining = [_eliminate(row, chosen, col) for row in remaining]
        pivot_rows = [(pivot, _eliminate(row, chosen, col)) for pivot, row in pivot_rows]
        pivot_rows.append((col, chosen))
    return [
        pivot
        for pivot, row in pivot_rows
        if all(value == 0 for index, value in enumerate(row) if index != pivot)
    ]


def _eliminate(row: list[Fraction], pivot_row: list[Fraction], col: int) -> list[Fraction]:
    factor = row[col]
    if factor == 0:
        return row
    return [value - factor * pivot for value, pivot in zip(row, pivot_row, strict=True)]


def suppress(values: Mapping[str, int], relations: Sequence[Sum], threshold: int) -> set[str]:
    """The counts of the release not to publish: the primary ones and their complements."""
    hidden = primary(values, threshold)
    order = {name: index for index, name in enumerate(values)}
    settled: set[str] = set()
    while found := determined(relations, hidden) - settled:
        exposed = min(found, key=order.__getitem__)
        candidates = _candidates(values, relations, hidden, exposed, order)
        if not candidates:
            # Every relation around it is hidden throughout: what pins it down is the tables'
            # shape alone (a status with no reason listed), which makes it 0 for every reader.
            settled.add(exposed)
            continue
        hidden.add(_breaking(relations, hidden, exposed, candidates))
    return hidden


def _candidates(
    values: Mapping[str, int],
    relations: Sequence[Sum],
    hidden: set[str],
    exposed: str,
    order: Mapping[str, int],
) -> list[str]:
    """Published counts that could be hidden beside ``exposed``, best first: the parts of the
    relations naming it (those with the fewest hidden counts first), the smallest non-zero
    first, then their totals (what readers need most), then those of relations touching
    another hidden count."""
    naming = [relation for relation in relations if exposed in (relation.total, *relation.parts)]
    naming.sort(
        key=lambda relation: sum(name in hidden for name in (relation.total, *relation.parts))
    )
    touching = [
        relation
        for relation in relations
        if relation not in naming and hidden & {relation.total, *relation.parts}
    ]
    found: list[str] = []
    for group in (naming, touching):
        parts = [part for relation in group for part in relation.parts if part not in hidden]
        found += sorted(
            dict.fromkeys(parts), key=lambda name: (values[name] == 0, values[name], order[name])
        )
        found += [relation.total for relation in group if relation.total not in hidden]
    return list(dict.fromkeys(found))


def _breaking(
    relations: Sequence[Sum], hidden: set[str], exposed: str, candidates: list[str]
) -> str:
    """The first candidate whose hiding leaves neither ``exposed`` nor itself determined, else
    the first that frees ``exposed``, else the first (the next rounds go on from there)."""
    freeing = []
    for candidate in candidates:
        after = determined(relations, hidden | {candidate})
        if exposed not in after:
            if candidate not in after:
                return candidate
            freeing.append(candidate)
    return freeing[0] if freeing else candidates[0]
