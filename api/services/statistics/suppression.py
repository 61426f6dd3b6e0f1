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


PRIME = 2**61 - 1
"""Eliminations run in the integers modulo this prime: exact, and fast. The relations'
coefficients are 0 and ±1 over at most a few hundred counts; a rank over this field differs from
the rank over the rationals only if the prime divides one of their minors."""


def determined(relations: Sequence[Sum], hidden: Iterable[str]) -> set[str]:
    """The hidden counts the published ones and ``relations`` pin down exactly."""
    unknown = set(hidden)
    rows: list[dict[str, int]] = []
    for relation in relations:
        row: dict[str, int] = {}
        for name, sign in ((relation.total, -1), *((part, 1) for part in relation.parts)):
            if name in unknown:
                row[name] = row.get(name, 0) + sign
        row = {name: value % PRIME for name, value in row.items() if value % PRIME}
        if row:
            rows.append(row)
    found: set[str] = set()
    for component in _components(rows):
        found |= _single_pivots(component)
    return found


def _components(rows: list[dict[str, int]]) -> list[list[dict[str, int]]]:
    """The rows in groups that share no unknown (eliminated apart: much smaller systems)."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for row in rows:
        first, *others = row
        for other in others:
            parent[root(other)] = root(first)
    groups: dict[str, list[dict[str, int]]] = {}
    for row in rows:
        groups.setdefault(root(next(iter(row))), []).append(row)
    return list(groups.values())


def _single_pivots(rows: list[dict[str, int]]) -> set[str]:
    """Gauss-Jordan elimination of sparse rows; the unknowns whose pivot row names them alone."""
    pivots: dict[str, dict[str, int]] = {}
    for row in rows:
        row = dict(row)
        for name, pivot_row in pivots.items():
            if name in row:
                _subtract(row, pivot_row, row[name])
        if not row:
            continue
        name = min(row)
        inverse = pow(row[name], PRIME - 2, PRIME)
        row = {key: value * inverse % PRIME for key, value in row.items()}
        for pivot_row in pivots.values():
            if name in pivot_row:
                _subtract(pivot_row, row, pivot_row[name])
        pivots[name] = row
    return {name for name, row in pivots.items() if len(row) == 1}


def _subtract(row: dict[str, int], pivot_row: dict[str, int], factor: int) -> None:
    """``row -= factor * pivot_row``, in place, dropping what becomes 0."""
    for key, value in pivot_row.items():
        updated = (row.get(key, 0) - factor * value) % PRIME
        if updated:
            row[key] = updated
        else:
            row.pop(key, None)


def suppress(values: Mapping[str, int], relations: Sequence[Sum], threshold: int) -> set[str]:
    """The counts of the release not to publish: the primary ones and their complements."""
    hidden = primary(values, threshold)
    order = {name: index for index, name in enumerate(values)}
    _lone_hidden_terms(values, relations, hidden, order)
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


def _lone_hidden_terms(
    values: Mapping[str, int], relations: Sequence[Sum], hidden: set[str], order: Mapping[str, int]
) -> None:
    """The classic first pass, cheap: while a relation has exactly one hidden count, hide
    another of its counts (the smallest non-zero part, else a zero part, else its total). The
    check by elimination that follows finds what this misses."""
    changed = True
    while changed:
        changed = False
        for relation in relations:
            terms = (relation.total, *relation.parts)
            if sum(name in hidden for name in terms) != 1:
                continue
            parts = [part for part in relation.parts if part not in hidden]
            if parts:
                hidden.add(
                    min(parts, key=lambda name: (values[name] == 0, values[name], order[name]))
                )
            elif relation.total not in hidden:
                hidden.add(relation.total)
            else:
                continue
            changed = True


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
