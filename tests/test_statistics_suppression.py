"""Issue 24, acceptance 1: property tests of the small-cell protection over random referral
histories.

For any history, the release of its figures (the network's, and the public summary):

- publishes no count from 1 to threshold - 1;
- lets no hidden count be worked out: this test derives, on its own, the equations a reader has
  (each table's lines, groups, columns and totals as they are shown; what the words mean, e.g.
  "never acted on" is "waiting" plus "cancelled before the receiver acted"), puts the published
  counts in, and checks by rank (over a prime field, not the service's own elimination) that no
  hidden count is determined, save a zero the shape of the tables alone determines;
- gives the public summary the network's own published counts and nothing else, so the two
  queries together say no more than one: the API allows no other query on a quarter (quarters
  do not overlap; months appear only inside their quarter's release).

The checker itself is shown to catch a release protected by the primary rule alone.
"""

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.services.statistics.figures import Audience, Release, Table, release
from api.services.statistics.periods import Quarter
from api.services.statistics.suppression import MINIMUM_THRESHOLD, primary

QUARTER = Quarter(2026, 2)
PRIME = 2**61 - 1
AREAS = [("r1", "d1"), ("r1", "d2"), ("r1", "-"), ("r2", "d3"), ("-", "-")]
NEEDS = ["medical-care", "post-rape-care", "safe-shelter", "legal-aid"]
KINDS = ["committee", "health", "police"]
# (status now, the funnel step it stopped at (None: completed), its ending code)
STORIES = [
    ("requested", "not_received", None),
    ("received", "not_accepted", None),
    ("accepted", "not_completed", None),
    ("completed", None, "service_provided"),
    ("completed", None, "referred_onward"),
    ("rejected", "not_accepted", "no_capacity"),
    ("rejected", "not_accepted", "not_eligible"),
    ("failed", "not_completed", "person_unreachable"),
    ("cancelled", "not_received", "no_longer_needed"),
    ("cancelled", "not_accepted", "referred_elsewhere"),
    ("cancelled", "not_completed", "consent_withdrawn"),
]


@dataclass(frozen=True)
class Referral:
    month: int
    area: tuple[str, str]
    needs: frozenset[str]
    priority: str
    sender: str
    receiver: str
    story: tuple[str, str | None, str | None]
    overdue: bool


referrals = st.builds(
    Referral,
    month=st.integers(0, 2),
    area=st.sampled_from(AREAS),
    needs=st.frozensets(st.sampled_from(NEEDS), min_size=1, max_size=2),
    priority=st.sampled_from(["routine", "urgent", "asap", "stat"]),
    sender=st.sampled_from(KINDS),
    receiver=st.sampled_from(KINDS),
    story=st.sampled_from(STORIES),
    overdue=st.booleans(),
)
histories = st.lists(referrals, max_size=70)
thresholds = st.integers(MINIMUM_THRESHOLD, 10)


def counts_of(history: list[Referral]) -> Counter[str]:
    """What the worker counts (its figure names), recomputed here."""
    counts: Counter[str] = Counter()
    for referral in history:
        stage, step, ending = referral.story
        counts[f"month:{QUARTER.months[referral.month]}"] += 1
        counts[f"area:{referral.area[0]}:{referral.area[1]}"] += 1
        counts[f"priority:{referral.priority}"] += 1
        counts[f"kind:{referral.sender}:{referral.receiver}"] += 1
        counts[f"stage:{stage}"] += 1
        counts[f"overdue:{'yes' if referral.overdue else 'no'}"] += 1
        if step:
            counts[f"funnel:{step}"] += 1
        if stage == "cancelled":
            counts[f"stage:cancelled:{step}"] += 1
        if ending:
            counts[f"ending:{stage}:{ending}"] += 1
        for need in referral.needs:
            counts[f"need:{need}"] += 1
    return counts


# -- the reader's equations, from what the tables show -------------------------------------------


def equations_of(tables: tuple[Table, ...]) -> list[Counter[str]]:
    """Each equation as coefficients by cell (sum to 0): a total less its parts."""
    found: list[Counter[str]] = []

    def total_is(total: str, parts: list[str]) -> None:
        equation: Counter[str] = Counter({total: -1})
        for part in parts:
            equation[part] += 1
        found.append(equation)

    for table in tables:
        top = [line for line in table.lines if line.group is None]
        for column, total in enumerate(table.totals):
            total_is(total, [line.cells[column] for line in top])
        for line in table.lines:
            if line.subtotal:
                children = [other for other in table.lines if other.group == line.key]
                for column, cell in enumerate(line.cells):
                    total_is(cell, [child.cells[column] for child in children])
            if line.total:
                total_is(line.total, list(line.cells))
        if table.total:
            total_is(table.total, list(table.totals))
            total_is(table.total, [line.total for line in top if line.total])
    # What the words say: how far a referral went is where it stands now.
    total_is("funnel:not_received", ["stage:requested", "stage:cancelled:not_received"])
    total_is(
        "funnel:not_accepted",
        ["stage:received", "stage:rejected", "stage:cancelled:not_accepted"],
    )
    total_is(
        "funnel:not_completed",
        ["stage:accepted", "stage:failed", "stage:cancelled:not_completed"],
    )
    return found


def _rank(rows: list[list[int]]) -> int:
    rows = [[value % PRIME for value in row] for row in rows]
    rank, width = 0, len(rows[0]) if rows else 0
    for column in range(width):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][column]), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        inverse = pow(rows[rank][column], PRIME - 2, PRIME)
        rows[rank] = [value * inverse % PRIME for value in rows[rank]]
        for i in range(len(rows)):
            if i != rank and rows[i][column]:
                factor = rows[i][column]
                rows[i] = [
                    (a - factor * b) % PRIME for a, b in zip(rows[i], rows[rank], strict=True)
                ]
        rank += 1
    return rank


def pinned(equations: list[Counter[str]], unknown: set[str]) -> set[str]:
    """The unknown cells the equations determine once every other cell is known: those whose
    unit row does not raise the rank of the equations restricted to the unknowns."""
    names = sorted(unknown)
    rows = [[equation[name] for name in names] for equation in equations]
    rows = [row for row in rows if any(row)]
    base = _rank(rows)
    found = set()
    for index, name in enumerate(names):
        unit = [1 if i == index else 0 for i in range(len(names))]
        if _rank([*rows, unit]) == base:
            found.add(name)
    return found


def recoverable(released: Release) -> set[str]:
    """Hidden cells a reader can work out (but zeros the tables' shape alone pins down)."""
    equations = equations_of(released.tables)
    shown = set(released.published())
    hidden = {cell for cell in shown if released.value(cell) is None}
    structural = pinned(equations, shown)
    return {
        cell
        for cell in pinned(equations, hidden)
        if not (cell in structural and released.values.get(cell, 0) == 0)
    }


# -- the properties ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, threshold=thresholds)
def test_no_published_count_is_small_and_no_hidden_one_can_be_worked_out(
    history: list[Referral], threshold: int
) -> None:
    counts = counts_of(history)
    network = release(Audience.network, QUARTER, counts, threshold, {})
    public = release(Audience.public, QUARTER, counts, threshold, {})
    for released in (network, public):
        small = {cell: v for cell, v in released.published().items() if v and v < threshold}
        assert not small
        assert not recoverable(released)
    # the public summary is a part of the network's release, not another one
    assert public.published().items() <= network.published().items()
    # the tables show exactly the counts of the history
    for cell, value in network.published().items():
        if value is not None and cell in counts:
            assert value == counts[cell]
    assert network.values["total"] == len(history)


@settings(max_examples=60, deadline=None)
@given(history=histories, threshold=thresholds)
def test_rates_and_funnel_steps_rest_only_on_published_counts(
    history: list[Referral], threshold: int
) -> None:
    from api.services.statistics import funnel_steps

    network = release(Audience.network, QUARTER, counts_of(history), threshold, {})
    share = network.share("overdue:yes", "total")
    if network.value("overdue:yes") is None or network.value("total") is None:
        assert share is None
    steps = dict(funnel_steps(network))
    reached = {
        "sent": len(history),
        "received": sum(r.story[1] != "not_received" for r in history),
        "accepted": sum(r.story[1] not in ("not_received", "not_accepted") for r in history),
        "completed": sum(r.story[0] == "completed" for r in history),
    }
    for step, value in steps.items():
        assert value is None or value == reached[step]


def test_the_checker_finds_what_primary_suppression_alone_leaves_open() -> None:
    """A history with one small cell in a table: hiding it alone, its row total gives it away,
    and the checker says so (so the property above can fail)."""
    history = [
        Referral(
            0,
            ("r1", "d1"),
            frozenset({"legal-aid"}),
            "urgent",
            "health",
            "police",
            STORIES[0],
            False,
        )
        for _ in range(12)
    ] + [
        Referral(
            1,
            ("r1", "d2"),
            frozenset({"legal-aid"}),
            "urgent",
            "health",
            "police",
            STORIES[0],
            False,
        )
    ]
    counts = counts_of(history)
    protected = release(Audience.network, QUARTER, counts, 5, {})
    assert not recoverable(protected)
    only_primary = Release(
        protected.audience,
        QUARTER,
        5,
        protected.values,
        frozenset(primary(protected.values, 5)),
        protected.tables,
        protected.times,
    )
    assert "month:2026-05" in recoverable(only_primary)
    assert "area:r1:d2" in recoverable(only_primary)


@pytest.mark.parametrize("threshold", [0, 1, 2])
def test_no_threshold_below_three(threshold: int) -> None:
    with pytest.raises(ValueError, match="protects no one"):
        release(Audience.network, QUARTER, {"month:2026-04": 1}, threshold, {})
