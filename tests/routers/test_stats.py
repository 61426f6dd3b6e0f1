"""Issue 24 over HTTP: the accountability figures of a known history, checked figure by figure
against a plain recomputation (acceptance 2); the erasure of referrals' personal data changes
no figure (acceptance 3); who sees which figures; bad input is a 4xx problem."""

import csv
import io
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.scopes import Scope
from api.config import Settings
from api.models.directory import Attribute, Service
from api.models.organization import Organization, OrganizationKind
from api.repositories import statistics as repository
from api.repositories.base import act_as_worker
from api.services import statistics
from api.services.statistics.suppression import suppress
from api.taxonomy import term_id
from tests.conftest import make_settings
from tests.factories.auth import Partner, create_client, create_partner, issue_token
from tests.factories.referrals import move, network, record_consent, refer
from tests.factories.statistics import QUARTER, History, seed

THRESHOLD = 5  # the default, which the suite's settings keep


@pytest.fixture
async def history(session: AsyncSession) -> History:
    return await seed(session)


async def partner_of(
    session: AsyncSession, settings: Settings, organization_id: uuid.UUID, scopes: list[Scope]
) -> Partner:
    organization = await session.get(Organization, organization_id)
    assert organization is not None
    client = await create_client(session, settings, organization, scopes=scopes)
    return Partner(organization, client, await issue_token(session, settings, client))


async def operator(session: AsyncSession, settings: Settings) -> Partner:
    return await create_partner(
        session, settings, scopes=[Scope.admin, Scope.stats_read], name="Operating NGO"
    )


def totals(history: History, scope: str) -> Counter[str]:
    """The counts and every total the tables show, recomputed plainly from the history."""
    counts = history.expected(scope)
    figures: Counter[str] = Counter(
        {name: value for name, value in counts.items() if not name.startswith("time:")}
    )
    for name, value in counts.items():
        kind, _, rest = name.partition(":")
        if kind == "area":
            figures[f"region:{rest.split(':')[0]}"] += value
        elif kind == "kind":
            sender, receiver = rest.split(":")
            figures[f"sender:{sender}"] += value
            figures[f"receiver:{receiver}"] += value
        elif kind == "need":
            figures["needs"] += value
    in_scope = [
        referral
        for referral in history.referrals
        if scope == "network"
        or scope in (history.scope_of(referral.sender), history.scope_of(referral.receiver))
    ]
    figures["total"] = len(in_scope)
    figures["ended"] = sum(
        figures[f"stage:{stage}"] for stage in ("completed", "rejected", "failed", "cancelled")
    )
    return figures


def parse_csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


async def figures(
    client: httpx.AsyncClient, partner: Partner, quarter: str = QUARTER
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    answer = await client.get(
        "/v1/stats/referrals", params={"quarter": quarter}, headers=partner.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "private, no-store"
    exported = await client.get(
        "/v1/stats/referrals.csv", params={"quarter": quarter}, headers=partner.headers
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    return answer.json(), parse_csv(exported.text)


def json_values(body: dict[str, Any]) -> list[int | None]:
    """The JSON release's counts in the CSV's order (line by line, then the total line)."""
    values: list[int | None] = []
    for table in body["tables"]:
        for line in table["lines"]:
            values += line["values"]
        values += table["totals"]
    return values


class TestKnownHistory:
    async def test_the_workers_counts_are_a_plain_recomputation_for_every_scope(
        self, session: AsyncSession, history: History
    ) -> None:
        await act_as_worker(session)
        scopes = ["network", *(history.scope_of(key) for key in history.organizations)]
        for scope in scopes:
            found = await repository.tallies(session, scope, QUARTER)
            expected = {name: value for name, value in history.expected(scope).items() if value}
            assert found == expected, scope
        assert history.expected("network")["time:accepted:count"] > 10  # the medians are real

    @pytest.mark.parametrize("who", ["network", "committee", "health", "shelter"])
    async def test_every_published_figure_is_the_recomputed_one_and_small_ones_are_hidden(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        history: History,
        who: str,
    ) -> None:
        if who == "network":
            partner, scope = await operator(session, settings), "network"
        else:
            scope = history.scope_of(who)
            organization = history.organizations[who]
            partner = await partner_of(session, settings, organization, [Scope.stats_read])
        body, lines = await figures(client, partner)
        expected = totals(history, scope)

        assert body["audience"] == ("network" if who == "network" else "organization")
        assert body["threshold"] == THRESHOLD
        assert [line["value"] for line in lines] == [
            "*" if value is None else str(value) for value in json_values(body)
        ]
        hidden = 0
        for line in lines:
            value = expected[line["figure"]]
            if line["value"] == "*":
                hidden += 1
            else:
                assert int(line["value"]) == value, line
            if 0 < value < THRESHOLD:
                assert line["value"] == "*", line
        assert hidden, "a history this size has small cells"
        shown_totals = {line["value"] for line in lines if line["figure"] == "total"}
        assert shown_totals == {str(expected["total"])}  # the same cell in every table

        times = {time["step"]: time for time in body["times"]}
        raw = history.expected(scope)
        for step in ("received", "accepted"):
            if raw[f"time:{step}:count"] >= THRESHOLD:
                assert times[step]["median_seconds"] == raw[f"time:{step}:median"]
                assert times[step]["p90_seconds"] == raw[f"time:{step}:p90"]
            else:
                assert times[step]["median_seconds"] is None

    async def test_districts_come_under_their_regions_and_a_shelter_stays_at_its_listed_area(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, history: History
    ) -> None:
        body, _ = await figures(client, await operator(session, settings))
        areas = next(table for table in body["tables"] if table["name"] == "areas")
        region = str(history.areas["region"])
        under = [line["key"] for line in areas["lines"] if line["group"] == region]
        districts = sorted([str(history.areas["district-1"]), str(history.areas["district-2"])])
        # the shelter, listed at the region, is counted there and nowhere finer
        assert under == [*districts, "-"]
        assert str(history.areas["commune"]) not in {line["key"] for line in areas["lines"]}
        names = {line["key"]: line["name"] for line in areas["lines"]}
        assert names[region] == "Statistics region"

    async def test_a_lower_threshold_hides_less_and_none_below_three_is_accepted(
        self, session: AsyncSession, settings: Settings, history: History
    ) -> None:
        with pytest.raises(ValidationError):
            make_settings(statistics_threshold=2)
        with pytest.raises(ValueError, match="protects no one"):
            suppress({"a": 1}, [], 2)
        quarter = statistics.Quarter.parse(QUARTER)
        strict = await statistics.public_figures(session, quarter, settings)
        loose = await statistics.public_figures(
            session, quarter, settings.model_copy(update={"statistics_threshold": 3})
        )
        for release, threshold in ((strict, 5), (loose, 3)):
            published = [v for v in release.published().values() if v is not None]
            assert not [value for value in published if 0 < value < threshold]
            assert release.hidden


class TestErasure:
    async def test_erasing_the_personal_data_changes_no_figure(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        net = await network(session, settings)
        net.sender = await partner_of(
            session,
            settings,
            net.sender.organization.id,
            [Scope.referrals_send, Scope.referrals_receive, Scope.stats_read],
        )
        consent = await record_consent(client, net)
        made = [await refer(client, net, consent) for _ in range(7)]
        receiver = net.receiver.headers
        assert (await move(client, receiver, made[0]["id"], status="accepted")).status_code == 200
        completed = await move(
            client, receiver, made[0]["id"], status="completed", outcome="service_provided"
        )
        assert completed.status_code == 200, completed.text
        rejected = await move(
            client, receiver, made[1]["id"], status="rejected", reason="duplicate"
        )
        assert rejected.status_code == 200, rejected.text
        quarter = str(statistics.Quarter.current())

        async def roll_up() -> int:
            refreshed = 0
            while handled := await statistics.refresh_facts(session):
                refreshed += handled
            while await statistics.rebuild_changed(session, 0):
                pass
            return refreshed

        async def facts() -> list[tuple[Any, ...]]:
            await act_as_worker(session)
            rows = await session.execute(
                text(
                    "SELECT referral_id, quarter, month, sender_kind, receiver_kind, region_id, "
                    "district_id, priority, needs, stage, ending, received_seconds, "
                    "accepted_seconds, overdue FROM statistics_referral "
                    "WHERE referral_id = ANY(:ids) ORDER BY referral_id"
                ),
                {"ids": [uuid.UUID(referral["id"]) for referral in made]},
            )
            return [tuple(row) for row in rows]

        assert await roll_up() >= 7
        before_facts = await facts()
        before = await figures(client, net.sender, quarter)
        assert len(before_facts) == 7
        assert next(t for t in before[0]["tables"] if t["name"] == "months")["totals"] == [7]

        for referral in made:
            erased = await client.request(
                "DELETE",
                f"/v1/referrals/{referral['id']}/personal-data",
                json={"reason": "requested_by_person"},
                headers=net.sender.headers,
            )
            assert erased.status_code == 200, erased.text
        assert await roll_up() == 7  # each erasure queued its referral again
        assert await facts() == before_facts
        assert await figures(client, net.sender, quarter) == before


class TestWhoSeesWhat:
    async def test_an_organisation_sees_only_the_referrals_it_sent_or_received(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, history: History
    ) -> None:
        partner = await partner_of(
            session, settings, history.organizations["police"], [Scope.stats_read]
        )
        body, lines = await figures(client, partner)
        total = next(
            line for line in lines if line["table"] == "months" and line["line"] == "total"
        )
        expected = sum(1 for referral in history.referrals if referral.receiver == "police")
        assert total["value"] == (str(expected) if expected >= THRESHOLD else "*")
        assert body["audience"] == "organization"
        kinds = next(table for table in body["tables"] if table["name"] == "kinds")
        assert kinds["columns"] == [OrganizationKind.police.value, "total"]

    async def test_the_tally_rows_of_other_organisations_are_out_of_reach_of_the_database_role(
        self, session: AsyncSession, history: History
    ) -> None:
        mine = history.organizations["police"]
        await session.execute(
            text("SELECT set_config('relay.organization_id', :org, true)"), {"org": str(mine)}
        )
        scopes = set(
            await session.scalars(
                text("SELECT DISTINCT scope FROM statistics_tally WHERE quarter = :q"),
                {"q": QUARTER},
            )
        )
        assert scopes == {"network", str(mine)}

    async def test_bad_quarters_are_422_problems(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        partner = await operator(session, settings)
        for quarter in ("2026Q5", "26Q1", "2026q1", "x" * 300, "1999Q1"):
            answer = await client.get(
                "/v1/stats/referrals.csv", params={"quarter": quarter}, headers=partner.headers
            )
            assert answer.status_code == 422, (quarter, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"

    async def test_a_quarter_without_referrals_is_all_zeros(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        body, lines = await figures(client, await operator(session, settings), "2001Q1")
        assert {line["value"] for line in lines} == {"0"}
        assert [line["key"] for line in body["tables"][0]["lines"]] == [
            "2001-01",
            "2001-02",
            "2001-03",
        ]


class TestDirectoryHealth:
    async def test_services_per_need_how_many_checked_lately_and_districts_without(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        partner = await operator(session, settings)

        async def health() -> dict[str, Any]:
            checked_days = settings.directory_stale_days
            assert await statistics.rebuild_directory(session, checked_days, 0) == 1
            answer = await client.get("/v1/stats/directory", headers=partner.headers)
            assert answer.status_code == 200, answer.text
            assert answer.headers["cache-control"] == "private, no-store"
            body: dict[str, Any] = answer.json()
            return body

        before = await health()
        owner = partner.organization.id
        long_ago = datetime.now(UTC) - timedelta(days=365)
        # Checked means confirmed still correct (assured_date), not changed: the entry edited
        # yesterday but confirmed a year ago is not checked, the one confirmed today is.
        recent = Service(
            organization_id=owner,
            name="Legal clinic",
            accepts_referrals=True,
            assured_date=date.today(),
            last_modified=long_ago,
        )
        stale = Service(
            organization_id=owner,
            name="Old legal desk",
            assured_date=(long_ago - timedelta(days=settings.directory_stale_days)).date(),
            version=2,
        )
        closed = Service(organization_id=owner, name="Closed desk", status="inactive")
        session.add_all([recent, stale, closed])
        await session.flush()
        for service in (recent, stale, closed):
            session.add(
                Attribute(
                    link_id=service.id,
                    link_entity="service",
                    link_type="need",
                    taxonomy_term_id=term_id("legal-aid"),
                )
            )
        await session.execute(
            text(
                "INSERT INTO admin_area (id, name, level, geom) VALUES (:id, 'Far district', 2, "
                "ST_GeomFromText('MULTIPOLYGON(((170 -80, 170 -79, 171 -79, 171 -80, "
                "170 -80)))', 4326))"
            ),
            {"id": uuid.uuid4()},
        )
        await session.flush()
        after = await health()

        def of(body: dict[str, Any], need: str) -> dict[str, Any]:
            found: dict[str, Any] = next(item for item in body["needs"] if item["need"] == need)
            return found

        legal_before, legal_after = of(before, "legal-aid"), of(after, "legal-aid")
        assert legal_after["services"] == legal_before["services"] + 2  # not the inactive one
        checked_before = round((legal_before["checked_share"] or 0) * legal_before["services"])
        assert round(legal_after["checked_share"] * legal_after["services"]) == checked_before + 1
        assert after["districts"] == before["districts"] + 1
        for need in after["needs"]:
            assert need["districts_without"] == of(before, need["need"])["districts_without"] + 1
        assert after["reach_km"] == 50
        assert after["checked_within_days"] == settings.directory_stale_days
        assert await statistics.rebuild_directory(session, 180) == 0  # fresh for an hour
