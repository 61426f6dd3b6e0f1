"""A known referral history for the accountability figures: areas, organisations, services and
referrals with their events written as they would have been, in a quarter long past (so the
network's figures of that quarter are this history's alone), and the figures recomputed from
the history plainly, in Python, to check the worker's and the API's against.

``History.expected(scope)`` is the plain recomputation: a referral counts once per month, area,
priority, pair of kinds, status, funnel step, ending and lateness, once per need it names, for
the network and for each of its two organisations."""

import csv
import io
import math
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.directory import Location, Service, ServiceAtLocation
from api.models.organization import OrganizationKind
from api.repositories.base import act_as_worker
from api.services import statistics
from tests.factories.organizations import create_organization

QUARTER = "2019Q2"
MONTHS = ((2019, 4), (2019, 5), (2019, 6))
OPEN_OR_ACCEPTED = {"in-progress": "accepted", "on-hold": "accepted"}
CLOSING = {"rejected", "failed", "cancelled", "completed"}

# Each history: (status, reason or outcome, hours after sending), in order.
STORIES: list[list[tuple[str, str | None, float]]] = [
    [],
    [
        ("received", None, 2.0),
        ("accepted", None, 5.0),
        ("in-progress", None, 6.0),
        ("completed", "service_provided", 80.0),
    ],
    [("accepted", None, 1.5), ("completed", "partially_provided", 30.0)],
    [("received", None, 0.5), ("rejected", "no_capacity", 3.0)],
    [("rejected", "not_eligible", 12.0)],
    [("cancelled", "no_longer_needed", 1.0)],
    [("received", None, 4.0), ("cancelled", "referred_elsewhere", 9.0)],
    [("accepted", None, 0.25), ("failed", "person_unreachable", 48.0)],
    [("received", None, 7.0), ("accepted", None, 20.0), ("on-hold", "awaiting_capacity", 21.0)],
    [("received", None, 1.0)],
    [("accepted", None, 2.0), ("cancelled", "consent_withdrawn", 30.0)],
]


@dataclass
class Seeded:
    id: uuid.UUID
    sender: str
    receiver: str
    created_at: datetime
    priority: str
    needs: list[str]
    story: list[tuple[str, str | None, float]]
    overdue: bool


@dataclass
class History:
    organizations: dict[str, uuid.UUID] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    areas: dict[str, uuid.UUID] = field(default_factory=dict)
    services: dict[str, uuid.UUID] = field(default_factory=dict)
    service_places: dict[str, tuple[str, str]] = field(default_factory=dict)
    """receiver → (region key, district key) its service counts in, '-' for none."""
    referrals: list[Seeded] = field(default_factory=list)

    def scope_of(self, organization: str) -> str:
        return str(self.organizations[organization])

    def _area_key(self, key: str) -> str:
        return "-" if key == "-" else str(self.areas[key])

    def expected(self, scope: str = "network") -> Counter[str]:
        """The raw counts of the scope's quarter, recomputed from the history."""
        counts: Counter[str] = Counter()
        times: dict[str, list[int]] = {"received": [], "accepted": []}
        for referral in self.referrals:
            parties = {self.scope_of(referral.sender), self.scope_of(referral.receiver)}
            if scope != "network" and scope not in parties:
                continue
            status = referral.story[-1][0] if referral.story else "requested"
            stage = OPEN_OR_ACCEPTED.get(status, status)
            region, district = self.service_places[referral.receiver]
            acted = [h for s, _, h in referral.story if s in ("received", "accepted", "rejected")]
            accepted = [h for s, _, h in referral.story if s == "accepted"]
            counts[f"month:{referral.created_at:%Y-%m}"] += 1
            counts[f"area:{self._area_key(region)}:{self._area_key(district)}"] += 1
            counts[f"priority:{referral.priority}"] += 1
            counts[f"kind:{self.kinds[referral.sender]}:{self.kinds[referral.receiver]}"] += 1
            counts[f"stage:{stage}"] += 1
            step = (
                "not_received"
                if not acted
                else "not_accepted"
                if not accepted
                else "not_completed"
                if stage != "completed"
                else None
            )
            if step:
                counts[f"funnel:{step}"] += 1
            if stage == "cancelled":
                counts[f"stage:cancelled:{step}"] += 1
            counts[f"overdue:{'yes' if referral.overdue else 'no'}"] += 1
            if status in CLOSING:
                counts[f"ending:{status}:{referral.story[-1][1]}"] += 1
            for need in referral.needs:
                counts[f"need:{need}"] += 1
            if acted:
                times["received"].append(int(acted[0] * 3600))
            if accepted:
                times["accepted"].append(int(accepted[0] * 3600))
        for step, seconds in times.items():
            if seconds:
                ordered = sorted(seconds)
                counts[f"time:{step}:count"] = len(ordered)
                counts[f"time:{step}:median"] = ordered[math.ceil(0.5 * len(ordered)) - 1]
                counts[f"time:{step}:p90"] = ordered[math.ceil(0.9 * len(ordered)) - 1]
        return counts


async def _insert(session: AsyncSession, statement: str, **values: object) -> None:
    await session.execute(text(statement), values)


async def _area(
    session: AsyncSession, history: History, key: str, level: int, parent: str | None
) -> None:
    area_id = uuid.uuid4()
    history.areas[key] = area_id
    await _insert(
        session,
        "INSERT INTO admin_area (id, name, level, parent_id, geom) VALUES (:id, :name, :level, "
        ":parent, ST_GeomFromText('MULTIPOLYGON(((0 0, 0 1, 1 1, 1 0, 0 0)))', 4326))",
        id=area_id,
        name=f"Statistics {key}",
        level=level,
        parent=history.areas[parent] if parent else None,
    )


async def _organization(session: AsyncSession, history: History, key: str, kind: str) -> None:
    organization = await create_organization(
        session, name=f"Statistics {key}", kind=OrganizationKind(kind)
    )
    history.organizations[key] = organization.id
    history.kinds[key] = kind


async def _service(
    session: AsyncSession,
    history: History,
    organization: str,
    listed_in: str | None,
    place: tuple[str, str],
    visibility: str = "public",
) -> None:
    owner = history.organizations[organization]
    service = Service(organization_id=owner, name="Statistics service", accepts_referrals=True)
    location = Location(
        organization_id=owner,
        name="Statistics place",
        latitude=0.5,
        longitude=0.5,
        visibility=visibility,
        admin_area_id=history.areas[listed_in] if listed_in else None,
    )
    session.add_all([service, location])
    await session.flush()
    session.add(ServiceAtLocation(service_id=service.id, location_id=location.id))
    await session.flush()
    history.service_places[organization] = place
    history.services[organization] = service.id


RECEIVERS = {
    # receiver → (kind, listed area, (region, district) it counts in, visibility)
    "health": ("health", "commune", ("region", "district-1"), "public"),
    "police": ("police", "district-2", ("region", "district-2"), "public"),
    "shelter": ("shelter", "region", ("region", "-"), "confidential"),
    "legal": ("legal", None, ("-", "-"), "public"),
    "far-health": ("health", "district-3", ("region-2", "district-3"), "public"),
}
SENDERS = {"committee": "committee", "ngo": "ngo"}
NEEDS = ("medical-care", "post-rape-care", "safe-shelter", "legal-aid", "psychosocial-support")


async def seed(session: AsyncSession, *, referrals: int = 90, seed_value: int = 24) -> History:
    """Areas, organisations, services and ``referrals`` referrals of ``QUARTER``, with their
    events, as the API would have written them; then the worker's job until it is done."""
    history = History()
    randomly = random.Random(seed_value)
    await act_as_worker(session)
    await _area(session, history, "region", 1, None)
    await _area(session, history, "district-1", 2, "region")
    await _area(session, history, "district-2", 2, "region")
    await _area(session, history, "commune", 3, "district-1")
    await _area(session, history, "region-2", 1, None)
    await _area(session, history, "district-3", 2, "region-2")
    for key, kind in SENDERS.items():
        await _organization(session, history, key, kind)
    for key, (kind, listed, place, visibility) in RECEIVERS.items():
        await _organization(session, history, key, kind)
        await _service(session, history, key, listed, place, visibility)
    consents = {}
    for sender in SENDERS:
        consents[sender] = uuid.uuid4()
        await _insert(
            session,
            "INSERT INTO consent (id, organization_id, subject_ref, given_by, age_at_consent, "
            "method, recorded_by, purposes, allowed_organizations, allowed_recipient_kinds, "
            "data_categories, valid_from) VALUES (:id, :org, 'CASE-STATS', 'self', 30, "
            "'verbal', 'staff-1', ARRAY['services', 'statistics'], ARRAY[]::uuid[], "
            "ARRAY[]::text[], ARRAY['identity'], '2019-01-01T00:00:00Z')",
            id=consents[sender],
            org=history.organizations[sender],
        )
    weights = [5, 3, 1, 1]  # receivers: mostly health and police
    for _ in range(referrals):
        sender = randomly.choice(list(SENDERS))
        receiver = randomly.choices(list(RECEIVERS), weights=[6, 4, 2, 1, 2])[0]
        year, month = randomly.choices(MONTHS, weights=[5, 3, 1])[0]
        created = datetime(
            year, month, randomly.randint(1, 28), randomly.randint(0, 23), tzinfo=UTC
        )
        story = randomly.choice(STORIES)
        seeded = Seeded(
            id=uuid.uuid4(),
            sender=sender,
            receiver=receiver,
            created_at=created,
            priority=randomly.choices(["routine", "urgent", "asap", "stat"], weights=weights)[0],
            needs=sorted(randomly.sample(NEEDS, randomly.choice([1, 1, 2]))),
            story=story,
            overdue=(not story or story[0][2] > 4.0) and randomly.random() < 0.7,
        )
        history.referrals.append(seeded)
        await _write_referral(session, history, seeded, consents[sender])
    while await statistics.refresh_facts(session):
        pass
    while await statistics.rebuild_changed(session, 0):
        pass
    await session.execute(text("SELECT set_config('relay.worker', '', true)"))
    return history


async def _write_referral(
    session: AsyncSession, history: History, referral: Seeded, consent_id: uuid.UUID
) -> None:
    status = referral.story[-1][0] if referral.story else "requested"
    closed = (
        referral.created_at + timedelta(hours=referral.story[-1][2]) if status in CLOSING else None
    )
    await _insert(
        session,
        "INSERT INTO referral (id, from_organization_id, to_organization_id, to_service_id, "
        "consent_id, status, priority, needs, sharing_profile, due_at, personal_data, "
        "created_at, updated_at, closed_at, overdue_at) VALUES (:id, :sender, :receiver, "
        ":service, :consent, :status, :priority, :needs, 'minimal', :due, :data, :created, "
        ":created, :closed, :overdue)",
        id=referral.id,
        sender=history.organizations[referral.sender],
        receiver=history.organizations[referral.receiver],
        service=history.services[referral.receiver],
        consent=consent_id,
        status=status,
        priority=referral.priority,
        needs=referral.needs,
        due=referral.created_at + timedelta(hours=4),
        data=b"sealed personal data",
        created=referral.created_at,
        closed=closed,
        overdue=referral.created_at + timedelta(hours=4) if referral.overdue else None,
    )
    events = [("created", None, None, 0.0)] + [
        ("status_changed", step, reason, hours) for step, reason, hours in referral.story
    ]
    for sequence, (kind, step, reason, hours) in enumerate(events, start=1):
        outcome = reason if step == "completed" else None
        await _insert(
            session,
            "INSERT INTO referral_event (id, referral_id, sequence, at, organization_id, "
            "client_id, type, status, reason, outcome) VALUES (:id, :referral, :sequence, :at, "
            ":org, 'statistics-test', :type, :status, :reason, :outcome)",
            id=uuid.uuid4(),
            referral=referral.id,
            sequence=sequence,
            at=referral.created_at + timedelta(hours=hours),
            org=history.organizations[referral.sender],
            type=kind,
            status=step,
            reason=None if step == "completed" else reason,
            outcome=outcome,
        )


def settings_with(settings: Settings, threshold: int) -> Settings:
    return settings.model_copy(update={"statistics_threshold": threshold})


def figures_in_page(html: str) -> list[tuple[str, str]]:
    """Every count the page's tables show, in order: (its figure's name, what is written)."""
    found = re.findall(r'<td data-figure="([^"]+)">([^<]*)</td>', html)
    return [(figure, written.strip()) for figure, written in found]


def figures_in_csv(body: str) -> list[tuple[str, str]]:
    return [(line["figure"], line["value"]) for line in csv.DictReader(io.StringIO(body))]
