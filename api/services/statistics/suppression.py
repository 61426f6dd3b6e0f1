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
    while found := determined(relations, hidden):
        exposed = min(found, key=order.__getitem__)
        hidden.add(_complement(values, relations, hidden, exposed, order))
    return hidden


def _complement(
    values: Mapping[str, int],
    relations: Sequence[Sum],
    hidden: set[str],
    exposed: str,
    order: Mapping[str, int],
) -> str:
    """A published count to hide beside ``exposed``: in a relation naming it (the one with the
    fewest hidden counts first), the smallest non-zero part, else a zero part, else its total.
    If every relation naming it is hidden throughout, one touching another hidden count."""
    naming = [relation for relation in relations if exposed in (relation.total, *relation.parts)]
    naming.sort(
        key=lambda relation: sum(name in hidden for name in (relation.total, *relation.parts))
    )
    touching = [
        relation
        for relation in relations
        if relation not in naming and hidden & {relation.total, *relation.parts}
    ]
    for relation in (*naming, *touching):
        parts = [part for part in relation.parts if part not in hidden]
        if parts:
            return min(parts, key=lambda name: (values[name] == 0, values[name], order[name]))
        if relation.total not in hidden:
            return relation.total
    raise AssertionError("a determined count always has a published neighbour")
