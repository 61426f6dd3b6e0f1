"""A release: every table of one scope's quarter, built from the worker's raw counts, with the
counts that must not be published hidden (``suppression``).

The tables are fixed, and every count is a cell of one release: the referrals of the quarter by
month, by area (districts under their regions), by need, by priority, by the kinds of the
sending and receiving organisations, by where the loop stands now, by how far it went (the
funnel), by how it ended (reasons and outcomes, under their statuses) and whether it was late.
A count two tables share (the quarter's total, a status's count and its reasons' total) is one
cell, so it is hidden in both or in neither. The public release is the network's, the tables
it shows coarser (regions, no months, no reasons) but the same cells: it says nothing the
operator's figures do not.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache

from api.models.organization import OrganizationKind
from api.models.referral import Priority
from api.schemas.referrals import CancellationReason, FailureReason, Outcome, RejectionReason
from api.services.statistics.periods import Quarter
from api.services.statistics.suppression import Sum, suppress
from api.taxonomy import NEED_CODES

TOTAL = "total"
NEEDS_TOTAL = "needs"
COUNT_COLUMN = "referrals"
UNKNOWN = "-"
STAGES = ("requested", "received", "accepted", "completed", "rejected", "failed", "cancelled")
FUNNEL = ("not_received", "not_accepted", "not_completed", "completed")
ENDINGS: dict[str, type[StrEnum]] = {
    "completed": Outcome,
    "rejected": RejectionReason,
    "failed": FailureReason,
    "cancelled": CancellationReason,
}
TIME_STEPS = ("received", "accepted")


class Audience(StrEnum):
    """Whose figures, seen by whom: an organisation its own, the operator the network's, anyone
    the network's public summary."""

    organization = "organization"
    network = "network"
    public = "public"


@dataclass(frozen=True)
class Line:
    """A line of a table: its code (a month, an area's id, a need…) and its cells by column;
    ``total`` the line's own total cell in a table of several columns; ``subtotal`` for a
    group's line (a region above its districts), ``group`` the group a line is in."""

    key: str
    cells: tuple[str, ...]
    total: str | None = None
    subtotal: bool = False
    group: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    lines: tuple[Line, ...]
    totals: tuple[str, ...]
    """The total line's cells, one per column."""
    total: str | None = None
    """The total of the total line, in a table of several columns."""

    @property
    def cells(self) -> list[str]:
        named = [cell for line in self.lines for cell in (*line.cells, line.total) if cell]
        return [*named, *self.totals, *([self.total] if self.total else [])]


@dataclass(frozen=True)
class Time:
    """How long the receiver took (seconds), when at least a threshold of referrals say it."""

    step: str
    median: int | None
    p90: int | None


@dataclass(frozen=True)
class Release:
    audience: Audience
    quarter: Quarter
    threshold: int
    values: Mapping[str, int]
    hidden: frozenset[str]
    tables: tuple[Table, ...]
    times: tuple[Time, ...]
    area_names: Mapping[str, str] = field(default_factory=dict)

    def value(self, cell: str) -> int | None:
        """The published count, or None when it is hidden."""
        return None if cell in self.hidden else self.values.get(cell, 0)

    def share(self, part: str, base: str) -> float | None:
        """``part`` of ``base`` (0 to 1), only when both are published and the base is not 0."""
        numerator, denominator = self.value(part), self.value(base)
        if numerator is None or not denominator:
            return None
        return numerator / denominator

    def table(self, name: str) -> Table:
        return next(table for table in self.tables if table.name == name)

    def published(self) -> dict[str, int | None]:
        """Every cell the release's tables show, hidden ones as None."""
        return {cell: self.value(cell) for table in self.tables for cell in table.cells}


# -- the tables ------------------------------------------------------------------------------------


def _column(name: str, keys: Iterable[str], prefix: str, total: str) -> tuple[Table, list[Sum]]:
    lines = tuple(Line(key, (f"{prefix}:{key}",)) for key in keys)
    table = Table(name, (COUNT_COLUMN,), lines, (total,))
    return table, [Sum(total, tuple(line.cells[0] for line in lines))]


def _areas(counts: Mapping[str, int]) -> tuple[Table, list[Sum]]:
    """Districts under their regions; a region's line is the sum of its districts' (one of which
    may be ``-``: places listed at the region itself); ``-:-`` the places listed nowhere."""
    regions: dict[str, list[str]] = defaultdict(list)
    for name in counts:
        if name.startswith("area:"):
            _, region, district = name.split(":")
            regions[region].append(district)
    lines: list[Line] = []
    relations: list[Sum] = []
    for region in sorted(regions, key=lambda key: (key == UNKNOWN, key)):
        subtotal = f"region:{region}"
        districts = sorted(regions[region], key=lambda key: (key == UNKNOWN, key))
        cells = [f"area:{region}:{district}" for district in districts]
        lines.append(Line(region, (subtotal,), subtotal=True))
        lines.extend(
            Line(district, (cell,), group=region)
            for district, cell in zip(districts, cells, strict=True)
        )
        relations.append(Sum(subtotal, tuple(cells)))
    relations.append(Sum(TOTAL, tuple(line.cells[0] for line in lines if line.subtotal)))
    return Table("areas", (COUNT_COLUMN,), tuple(lines), (TOTAL,)), relations


def _kinds(counts: Mapping[str, int]) -> tuple[Table, list[Sum]]:
    pairs = [name.split(":")[1:] for name in counts if name.startswith("kind:")]
    order = [kind.value for kind in OrganizationKind]
    senders = [kind for kind in order if any(pair[0] == kind for pair in pairs)]
    receivers = [kind for kind in order if any(pair[1] == kind for pair in pairs)]
    lines = tuple(
        Line(
            sender,
            tuple(f"kind:{sender}:{receiver}" for receiver in receivers),
            total=f"sender:{sender}",
        )
        for sender in senders
    )
    totals = tuple(f"receiver:{receiver}" for receiver in receivers)
    relations = [Sum(line.total or "", line.cells) for line in lines]
    relations += [
        Sum(column_total, tuple(line.cells[index] for line in lines))
        for index, column_total in enumerate(totals)
    ]
    relations.append(Sum(TOTAL, tuple(line.total or "" for line in lines)))
    relations.append(Sum(TOTAL, totals))
    return Table("kinds", tuple(receivers), lines, totals, TOTAL), relations


def _endings(counts: Mapping[str, int]) -> tuple[Table, list[Sum]]:
    lines: list[Line] = []
    relations: list[Sum] = []
    for stage, codes in ENDINGS.items():
        known = [code.value for code in codes]
        present = {name.split(":")[2] for name in counts if name.startswith(f"ending:{stage}:")}
        keys = [code for code in [*known, "unknown"] if code in present]
        subtotal = f"stage:{stage}"
        lines.append(Line(stage, (subtotal,), subtotal=True))
        lines.extend(Line(code, (f"ending:{stage}:{code}",), group=stage) for code in keys)
        relations.append(Sum(subtotal, tuple(f"ending:{stage}:{code}" for code in keys)))
    total = "ended"
    relations.append(Sum(total, tuple(f"stage:{stage}" for stage in ENDINGS)))
    return Table("endings", (COUNT_COLUMN,), tuple(lines), (total,)), relations


def _values(counts: Mapping[str, int], quarter: Quarter) -> dict[str, int]:
    """The counts, and the totals that are sums of them (the release's every cell)."""
    values = {name: value for name, value in counts.items() if not name.startswith("time:")}
    for month in quarter.months:
        values.setdefault(f"month:{month}", 0)
    for name in [
        *[f"stage:{stage}" for stage in STAGES],
        *[f"funnel:{step}" for step in FUNNEL[:3]],
        *[f"stage:cancelled:{step}" for step in CANCELLED_WHEN],
    ]:
        values.setdefault(name, 0)
    for name in ("priority:" + priority.value for priority in Priority):
        values.setdefault(name, 0)
    values.setdefault("overdue:yes", 0)
    values.setdefault("overdue:no", 0)
    sums: dict[str, int] = defaultdict(int)
    for name, value in counts.items():
        kind, _, rest = name.partition(":")
        if kind == "month":
            sums[TOTAL] += value
        elif kind == "area":
            sums[f"region:{rest.split(':')[0]}"] += value
        elif kind == "need":
            sums[NEEDS_TOTAL] += value
        elif kind == "kind":
            sender, receiver = rest.split(":")
            sums[f"sender:{sender}"] += value
            sums[f"receiver:{receiver}"] += value
    sums["ended"] = sum(values[f"stage:{stage}"] for stage in ENDINGS)
    values.update(sums)
    values.setdefault(TOTAL, 0)
    values.setdefault(NEEDS_TOTAL, 0)
    return values


def _tables(counts: Mapping[str, int], quarter: Quarter) -> tuple[tuple[Table, ...], list[Sum]]:
    needs = [code for code in NEED_CODES if f"need:{code}" in counts]
    built = [
        _column("months", quarter.months, "month", TOTAL),
        _areas(counts),
        _column("needs", needs, "need", NEEDS_TOTAL),
        _column("priorities", [priority.value for priority in Priority], "priority", TOTAL),
        _kinds(counts),
        _stages(),
        _funnel(),
        _endings(counts),
        _column("overdue", ("yes", "no"), "overdue", TOTAL),
    ]
    tables = tuple(table for table, _ in built)
    relations = [relation for _, sums in built for relation in sums]
    return tables, relations


CANCELLED_WHEN = FUNNEL[:3]


def _stages() -> tuple[Table, list[Sum]]:
    """Where each referral stands; the cancelled by how far they had gone, so that the funnel
    is a sum of these lines (a reader who knows what the words mean knows these sums: they are
    relations of the release, not a way around it)."""
    lines: list[Line] = []
    for stage in STAGES:
        lines.append(Line(stage, (f"stage:{stage}",), subtotal=stage == "cancelled"))
    lines += [
        Line(step, (f"stage:cancelled:{step}",), group="cancelled") for step in CANCELLED_WHEN
    ]
    cancelled = tuple(f"stage:cancelled:{step}" for step in CANCELLED_WHEN)
    relations = [
        Sum(TOTAL, tuple(f"stage:{stage}" for stage in STAGES)),
        Sum("stage:cancelled", cancelled),
        Sum("funnel:not_received", ("stage:requested", cancelled[0])),
        Sum("funnel:not_accepted", ("stage:received", "stage:rejected", cancelled[1])),
        Sum("funnel:not_completed", ("stage:accepted", "stage:failed", cancelled[2])),
    ]
    return Table("stages", (COUNT_COLUMN,), tuple(lines), (TOTAL,)), relations


def _funnel() -> tuple[Table, list[Sum]]:
    """How far each referral went: a partition (stopped before the receiver acted; acted, not
    accepted; accepted, not completed; completed), drawn as a funnel of its running sums."""
    cells = (*(f"funnel:{step}" for step in FUNNEL[:3]), "stage:completed")
    lines = tuple(Line(step, (cell,)) for step, cell in zip(FUNNEL, cells, strict=True))
    return Table("funnel", (COUNT_COLUMN,), lines, (TOTAL,)), [Sum(TOTAL, cells)]


@lru_cache(maxsize=256)
def _protected(
    items: tuple[tuple[str, int], ...], quarter: Quarter, threshold: int
) -> tuple[tuple[Table, ...], dict[str, int], frozenset[str]]:
    counts = dict(items)
    tables, relations = _tables(counts, quarter)
    values = _values(counts, quarter)
    for relation in relations:  # a cell the tables name that nothing counted: 0
        for cell in (relation.total, *relation.parts):
            values.setdefault(cell, 0)
    return tables, values, frozenset(suppress(values, relations, threshold))


def _times(counts: Mapping[str, int], threshold: int) -> tuple[Time, ...]:
    times = []
    for step in TIME_STEPS:
        enough = counts.get(f"time:{step}:count", 0) >= threshold
        times.append(
            Time(
                step,
                counts.get(f"time:{step}:median") if enough else None,
                counts.get(f"time:{step}:p90") if enough else None,
            )
        )
    return tuple(times)


PUBLIC_TABLES = ("areas", "needs", "stages", "funnel")


def release(
    audience: Audience,
    quarter: Quarter,
    counts: Mapping[str, int],
    threshold: int,
    area_names: Mapping[str, str],
) -> Release:
    """The release of these counts (the worker's tallies of one scope and quarter)."""
    tables, values, hidden = _protected(tuple(sorted(counts.items())), quarter, threshold)
    if audience is Audience.public:
        tables = tuple(_public(table) for table in tables if table.name in PUBLIC_TABLES)
    return Release(
        audience,
        quarter,
        threshold,
        values,
        hidden,
        tables,
        _times(counts, threshold),
        area_names,
    )


def _public(table: Table) -> Table:
    """The public summary's coarser look: regions, without their districts."""
    if table.name != "areas":
        return table
    return Table(
        table.name,
        table.columns,
        tuple(replace(line, subtotal=False) for line in table.lines if line.subtotal),
        table.totals,
        table.total,
    )


def area_ids(counts: Mapping[str, int]) -> set[str]:
    """The areas the counts name (to look their names up)."""
    found: set[str] = set()
    for name in counts:
        if name.startswith("area:"):
            found.update(part for part in name.split(":")[1:] if part != UNKNOWN)
    return found


def funnel_steps(release: Release) -> list[tuple[str, int | None]]:
    """The loop as a funnel: sent, acted on by the receiver, accepted, completed, each the
    running sum of the funnel's partition from its step down; a step is published only when
    its published cells make it (from below, or the total less the steps above), so it says
    nothing the table does not."""
    cells = [line.cells[0] for line in release.table("funnel").lines]
    steps: list[tuple[str, int | None]] = [("sent", release.value(TOTAL))]
    for index, step in enumerate(("received", "accepted", "completed"), start=1):
        below = [release.value(cell) for cell in cells[index:]]
        above = [release.value(cell) for cell in cells[:index]]
        total = release.value(TOTAL)
        if all(value is not None for value in below):
            steps.append((step, sum(value or 0 for value in below)))
        elif total is not None and all(value is not None for value in above):
            steps.append((step, total - sum(value or 0 for value in above)))
        else:
            steps.append((step, None))
    return steps
