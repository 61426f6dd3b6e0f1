"""The referral workspace's pages over HTTP (issue 21): a volunteer refers in steps, the draft is
kept sealed on the server, a form sent twice makes one referral, the volunteer sees no person's
data after sending, the receiving caseworker works the referral from the inbox, and the pages
answer wrong input with a form or a page, never a stack trace."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import any_, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

from api.auth.principal import Principal
from api.config import Settings
from api.models.audit import AuditEvent
from api.models.directory import Service
from api.models.people import UserRole
from api.models.referral import Referral, ReferralDraft
from api.services.referrals import drafts
from tests.factories import referrals as factories
from tests.factories.people import create_person
from tests.web.app_pages import ORIGIN, browser_client, hidden_fields, sign_in, submit
from tests.web.pages import Page
from tests.web.workspace import (
    PERSON_NAME,
    Cast,
    by_id,
    cast,
    post_step,
    refer_standard_case,
    send,
    title_of,
)


@pytest.fixture
async def people(session: AsyncSession, settings: Settings) -> Cast:
    return await cast(session, settings)


@pytest.fixture
async def volunteer(
    app: FastAPI, client: httpx.AsyncClient, people: Cast
) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        await sign_in(opened, people.volunteer)
        yield opened


@pytest.fixture
async def caseworker(
    app: FastAPI, client: httpx.AsyncClient, people: Cast
) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(app) as opened:
        await sign_in(opened, people.caseworker)
        yield opened


async def referrals_from(session: AsyncSession, people: Cast) -> list[Referral]:
    found = await session.execute(
        select(Referral).where(col(Referral.from_organization_id) == people.committee.id)
    )
    return list(found.scalars())


class TestReferring:
    async def test_a_volunteer_refers_and_then_sees_the_status_only(
        self, volunteer: httpx.AsyncClient, session: AsyncSession, people: Cast
    ) -> None:
        review_path = await refer_standard_case(volunteer, people.district_id)
        review = await volunteer.get(review_path)
        assert PERSON_NAME in review.text  # the sender reads back what they typed, until sent
        assert review.headers["cache-control"] == "no-store"
        assert PERSON_NAME not in title_of(review.text)
        sent = await send(volunteer, review_path)
        assert sent.status_code == 303, sent.text[:800]
        case_path = sent.headers["location"].split("?")[0]
        assert case_path.startswith("/app/referrals/")
        page = await volunteer.get(sent.headers["location"])
        assert page.status_code == 200
        assert PERSON_NAME not in page.text
        assert 'id="withheld"' in page.text
        assert by_id(page.text, "case-reference").startswith("RL-")
        (referral,) = await referrals_from(session, people)
        assert referral.priority == "urgent"
        assert referral.sharing_profile == "standard"
        listing = await volunteer.get("/app/sent")
        assert PERSON_NAME not in listing.text
        assert case_path in listing.text

    async def test_the_draft_is_sealed_on_the_server_and_gone_once_sent(
        self, volunteer: httpx.AsyncClient, session: AsyncSession, people: Cast
    ) -> None:
        review_path = await refer_standard_case(volunteer, people.district_id)
        draft_id = uuid.UUID(review_path.split("/")[3])
        raw = await session.execute(
            text("SELECT content FROM referral_draft WHERE id = :id"), {"id": draft_id}
        )
        sealed = raw.scalar_one()
        assert sealed is not None
        assert PERSON_NAME.encode() not in sealed
        await send(volunteer, review_path)
        row = await session.get(ReferralDraft, draft_id, populate_existing=True)
        assert row is not None
        assert row.content is None
        assert row.referral_id is not None

    async def test_a_draft_survives_signing_out_and_in_again(
        self, app: FastAPI, volunteer: httpx.AsyncClient, people: Cast
    ) -> None:
        review_path = await refer_standard_case(volunteer, people.district_id)
        async with browser_client(app) as again:  # another phone, or after the idle timeout
            await sign_in(again, people.volunteer)
            start = await again.get("/app/refer")
            assert review_path in start.text
            assert PERSON_NAME not in start.text
            review = await again.get(review_path)
            assert PERSON_NAME in review.text

    async def test_the_first_step_posted_twice_makes_one_draft(
        self, volunteer: httpx.AsyncClient, session: AsyncSession, people: Cast
    ) -> None:
        """A double tap, or the form sent again after its answer was lost: one draft."""
        page = await volunteer.get("/app/refer")
        fields = {
            **hidden_fields(page.text, "refer"),
            "need": "post-rape-care",
            "area": people.district_id,
        }
        sent = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
        first = await volunteer.post("/app/refer", data=fields, headers=sent)
        again = await volunteer.post("/app/refer", data=fields, headers=sent)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        reopened = await volunteer.get("/app/refer")  # a new form: a new draft when posted
        assert hidden_fields(reopened.text, "refer")["form_id"] != fields["form_id"]
        drafts_made = await session.scalar(
            select(func.count())
            .select_from(ReferralDraft)
            .where(col(ReferralDraft.organization_id) == people.committee.id)
        )
        assert drafts_made == 1

    async def test_another_persons_draft_is_not_found(
        self, app: FastAPI, volunteer: httpx.AsyncClient, people: Cast
    ) -> None:
        review_path = await refer_standard_case(volunteer, people.district_id)
        async with browser_client(app) as other:
            await sign_in(other, people.caseworker)
            page = await other.get(review_path)
            assert page.status_code == 404
            assert PERSON_NAME not in page.text
            taken = await post_step(volunteer, review_path, {})
            assert taken.status_code == 404  # the review page is read; only its forms post

    async def test_sending_again_answers_the_same_referral(
        self, volunteer: httpx.AsyncClient, session: AsyncSession, people: Cast
    ) -> None:
        """A double tap, then a resend of the same page after a lost answer (the form's
        fields as the browser keeps them)."""
        review_path = await refer_standard_case(volunteer, people.district_id)
        page = await volunteer.get(review_path)
        fields = hidden_fields(page.text, "send")
        headers = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
        send_path = review_path.replace("/review", "/send")
        answers = [await volunteer.post(send_path, data=fields, headers=headers) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [303, 303, 303]
        assert len({answer.headers["location"].split("?")[0] for answer in answers}) == 1
        assert len(await referrals_from(session, people)) == 1
        # The review page of a sent draft leads to its referral, not to a second one.
        again = await volunteer.get(review_path)
        assert again.status_code == 303
        assert again.headers["location"] == answers[0].headers["location"].split("?")[0]

    async def test_the_person_step_shows_only_what_the_profile_shares(
        self, volunteer: httpx.AsyncClient, people: Cast
    ) -> None:
        review_path = await refer_standard_case(volunteer, people.district_id)
        draft_path = review_path.rsplit("/", 1)[0]
        changed = await post_step(
            volunteer,
            f"{draft_path}/consent",
            {
                "given_by": "parent_guardian",
                "relationship": "mother",
                "age": "14",
                "child_assent": "yes",
                "method": "verbal",
                "profile": "minimal",
            },
        )
        assert changed.status_code == 303
        person = Page((await volunteer.get(f"{draft_path}/person")).text)
        names = {field["name"] for field in person.all("input") + person.all("select")}
        assert {"age", "gender", "language"} <= names
        assert not names & {"name", "date_of_birth", "phone", "address", "gbv_type"}
        review = await volunteer.get(review_path)
        assert PERSON_NAME not in review.text  # the name the minimal profile does not share

    async def test_wrong_answers_come_back_as_a_form(
        self, volunteer: httpx.AsyncClient, people: Cast
    ) -> None:
        nothing = await submit(volunteer, "/app/refer", {})
        assert nothing.status_code == 422
        assert 'role="alert"' in nothing.text
        review_path = await refer_standard_case(volunteer, people.district_id)
        draft_path = review_path.rsplit("/", 1)[0]
        child = await post_step(
            volunteer,
            f"{draft_path}/consent",
            {"given_by": "parent_guardian", "age": "9", "method": "verbal", "profile": "standard"},
        )
        assert child.status_code == 422
        assert "Relationship" in by_id(child.text, "problem")
        bad = await post_step(
            volunteer, f"{draft_path}/person", {"age": "two hundred", "phone": "call me"}
        )
        assert bad.status_code == 422
        assert "Age" in by_id(bad.text, "problem")
        for path in ("/app/referrals/not-an-id", f"{draft_path}x/review", "/app/refer/1/review"):
            answer = await volunteer.get(path)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"].startswith("text/html")

    async def test_a_service_that_cannot_receive_is_not_chosen_whatever_id_is_posted(
        self, volunteer: httpx.AsyncClient, session: AsyncSession, people: Cast
    ) -> None:
        """A shelter (confidential) or a service that takes no referrals is neither offered
        nor accepted, nor named on the consent page, when a form posts its id."""
        begun = await submit(
            volunteer, "/app/refer", {"need": "post-rape-care", "area": people.district_id}
        )
        services_path = begun.headers["location"]
        hidden = await session.execute(
            select(Service.id, Service.name).where(
                (col(Service.visibility) == "confidential")
                | col(Service.accepts_referrals).is_(False)
            )
        )
        refused = list(hidden)
        assert refused
        for service_id, name in refused:
            answer = await post_step(volunteer, services_path, {"service": str(service_id)})
            assert answer.status_code == 422, name
            assert "Choose a service" in by_id(answer.text, "problem")
        consent = await volunteer.get(services_path.replace("/services", "/consent"))
        assert consent.status_code == 303
        assert consent.headers["location"] == services_path

    async def test_a_form_from_another_site_is_refused(
        self, volunteer: httpx.AsyncClient, people: Cast
    ) -> None:
        page = await volunteer.get("/app/refer")
        fields = hidden_fields(page.text, "refer")
        answer = await volunteer.post(
            "/app/refer",
            data={**fields, "need": "post-rape-care", "area": people.district_id},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert answer.status_code == 403
        no_token = await volunteer.post(
            "/app/refer",
            data={"need": "post-rape-care", "area": people.district_id},
            headers={"Origin": ORIGIN},
        )
        assert no_token.status_code == 403

    async def test_the_worker_forgets_drafts_past_their_time(
        self,
        volunteer: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        people: Cast,
    ) -> None:
        review_path = await refer_standard_case(volunteer, people.district_id)
        draft_id = uuid.UUID(review_path.split("/")[3])
        await session.execute(
            text(
                "UPDATE referral_draft SET expires_at = now() - interval '1 minute' WHERE id = :id"
            ),
            {"id": draft_id},
        )
        assert await drafts.purge_expired(session, settings) >= 1
        assert await session.get(ReferralDraft, draft_id, populate_existing=True) is None
        assert (await volunteer.get(review_path)).status_code == 404

    async def test_the_sender_cancels_with_a_reason(
        self, volunteer: httpx.AsyncClient, session: AsyncSession, people: Cast
    ) -> None:
        review_path = await refer_standard_case(volunteer, people.district_id)
        case_path = (await send(volunteer, review_path)).headers["location"].split("?")[0]
        page = await volunteer.get(case_path)
        assert 'id="move-received"' not in page.text  # the receiver's moves are not offered
        fields = hidden_fields(page.text, "move-cancelled")
        headers = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
        wrong = await volunteer.post(
            f"{case_path}/status", data={**fields, "reason": "bored"}, headers=headers
        )
        assert wrong.status_code == 422
        cancelled = await volunteer.post(
            f"{case_path}/status",
            data={**fields, "reason": "no_longer_needed"},
            headers=headers,
        )
        assert cancelled.status_code == 303
        (referral,) = await referrals_from(session, people)
        await session.refresh(referral)
        assert referral.status == "cancelled"


class TestTheInbox:
    async def test_the_caseworker_works_the_referral_and_the_audit_names_both(
        self,
        volunteer: httpx.AsyncClient,
        caseworker: httpx.AsyncClient,
        session: AsyncSession,
        people: Cast,
    ) -> None:
        review_path = await refer_standard_case(volunteer, people.district_id)
        case_path = (await send(volunteer, review_path)).headers["location"].split("?")[0]
        inbox = await caseworker.get("/app/inbox")
        assert inbox.status_code == 200
        links = re.findall(r'href="(/app/referrals/[^"]+)"', inbox.text)
        assert links[0] == case_path
        assert "1 new" in by_id(inbox.text, "counts")
        case = await caseworker.get(case_path)
        assert PERSON_NAME in case.text  # the standard profile shares the name
        assert "Do not contact the person directly" in case.text
        assert by_id(case.text, "due")  # waiting to be received: by when
        first_step = re.search(r'<ol class="loop" id="loop">\s*<li>(.*?)</li>', case.text, re.S)
        assert first_step is not None
        assert "Sent" in first_step[1]
        assert ": Sent" not in first_step[1]
        for status, extra in (
            ("received", {}),
            ("accepted", {}),
            ("completed", {"outcome": "service_provided"}),
        ):
            page = await caseworker.get(case_path)
            fields = hidden_fields(page.text, f"move-{status}")
            moved = await caseworker.post(
                f"{case_path}/status",
                data={**fields, **extra},
                headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
            )
            assert moved.status_code == 303, moved.text[:800]
        closed = await caseworker.get(case_path)
        assert PERSON_NAME not in closed.text  # closed: the receiver no longer reads it
        seen = await volunteer.get(case_path)
        assert "Completed" in by_id(seen.text, "status")
        assert PERSON_NAME not in seen.text
        assert 'id="due"' not in seen.text  # received long ago: no "to be received by"
        assert "Status: Completed" in by_id(seen.text, "loop")
        referral_id = uuid.UUID(case_path.rsplit("/", 1)[1])
        actors = await session.execute(
            select(func.array_agg(func.distinct(AuditEvent.acting_user))).where(
                literal(str(referral_id)) == any_(col(AuditEvent.resource_ids))
            )
        )
        named = set(actors.scalar_one() or [])
        assert f"user/{people.volunteer.user_id}" in named
        assert f"user/{people.caseworker.user_id}" in named

    async def test_overdue_then_new_then_by_priority(
        self,
        volunteer: httpx.AsyncClient,
        caseworker: httpx.AsyncClient,
        session: AsyncSession,
        people: Cast,
    ) -> None:
        paths = []
        for urgent in (False, True, False):
            review_path = await refer_standard_case(volunteer, people.district_id)
            if not urgent:  # the one tap on the review page
                page = await volunteer.get(review_path)
                toggled = await volunteer.post(
                    review_path.replace("/review", "/urgency"),
                    data=hidden_fields(page.text, "urgency"),
                    headers={"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
                )
                assert toggled.status_code == 303
            paths.append((await send(volunteer, review_path)).headers["location"].split("?")[0])
        routine, urgent_path, late = paths
        await session.execute(
            text("UPDATE referral SET due_at = now() - interval '1 hour' WHERE id = :id"),
            {"id": uuid.UUID(late.rsplit("/", 1)[1])},
        )
        inbox = await caseworker.get("/app/inbox")
        listed = re.findall(r'href="(/app/referrals/[^"]+)"', inbox.text)
        assert listed[:3] == [late, urgent_path, routine]
        assert "3 new, 1 overdue" in by_id(inbox.text, "counts")

    async def test_a_volunteer_has_no_inbox(self, volunteer: httpx.AsyncClient) -> None:
        answer = await volunteer.get("/app/inbox")
        assert answer.status_code == 403
        assert "inbox-list" not in answer.text


class TestSendingAtOnce:
    async def test_three_sends_at_once_make_one_referral(
        self, owner_engine: AsyncEngine, settings: Settings
    ) -> None:
        """Real concurrency needs real connections: the rows are committed, and deleted after."""
        sessions = async_sessionmaker(owner_engine, expire_on_commit=False)
        async with sessions() as session:
            net = await factories.network(session, settings)
            person = await create_person(
                session, settings, net.sender.organization, UserRole.volunteer
            )
            await session.commit()
        principal = Principal.of_person(
            user_id=person.user_id,
            organization_id=net.sender.organization.id,
            role=UserRole.volunteer,
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
        form_id = uuid.uuid4()
        try:

            async def begin_once() -> uuid.UUID:
                """The first step's form posted three times at once: one draft."""
                async with sessions() as session:
                    begun = await drafts.begin(
                        session,
                        settings,
                        principal,
                        {"needs": ["post-rape-care"], "priority": "urgent", "place": {}},
                        form_id,
                    )
                    await session.commit()
                    return begun.id

            assert set(await asyncio.gather(*(begin_once() for _ in range(3)))) == {form_id}
            async with sessions() as session:
                draft = await drafts.begin(
                    session,
                    settings,
                    principal,
                    {
                        "needs": ["post-rape-care"],
                        "priority": "urgent",
                        "place": {"latitude": 14.0, "longitude": -16.2},
                        "service_id": str(net.service.id),
                        "consent": {
                            "given_by": "parent_guardian",
                            "relationship": "mother",
                            "child_assent": True,
                            "age_at_consent": 14,
                            "method": "verbal",
                        },
                        "sharing_profile": "standard",
                        "subject": {"name": PERSON_NAME, "age": 14},
                    },
                )
                await session.commit()

            async def send_once() -> uuid.UUID:
                async with sessions() as session:
                    made = await drafts.send(session, settings, principal, draft.id)
                    await session.commit()
                    return made

            made = await asyncio.gather(*(send_once() for _ in range(3)))
            assert len(set(made)) == 1
            async with owner_engine.connect() as connection:
                count = await connection.scalar(
                    text("SELECT count(*) FROM referral WHERE from_organization_id = :id"),
                    {"id": net.sender.organization.id},
                )
                consents = await connection.scalar(
                    text("SELECT count(*) FROM consent WHERE organization_id = :id"),
                    {"id": net.sender.organization.id},
                )
            assert (count, consents) == (1, 1)
        finally:
            async with owner_engine.begin() as connection:
                people = "user_id IN (SELECT id FROM user_account WHERE organization_id = :org)"
                for statement in (
                    "DELETE FROM referral_draft WHERE organization_id = :org",
                    f"DELETE FROM invitation WHERE {people}",
                    f"DELETE FROM recovery_code WHERE {people}",
                    "DELETE FROM user_account WHERE organization_id = :org",
                ):
                    await connection.execute(text(statement), {"org": net.sender.organization.id})
            await factories.delete_network(owner_engine, net)


class TestWeightAndCaches:
    async def test_every_page_is_light_local_and_never_cached(
        self, volunteer: httpx.AsyncClient, caseworker: httpx.AsyncClient, people: Cast
    ) -> None:
        """Each page of the flow with everything it loads is under 150 KB, loads nothing from
        another host, and is sent ``no-store`` (a shared phone's cache keeps none of them)."""
        review_path = await refer_standard_case(volunteer, people.district_id)
        case_path = (await send(volunteer, review_path)).headers["location"].split("?")[0]
        pages = [
            (volunteer, "/app/refer"),
            (volunteer, "/app/sent"),
            (volunteer, case_path),
            (caseworker, "/app/inbox"),
            (caseworker, case_path),
            (caseworker, "/app"),
        ]
        other = await refer_standard_case(volunteer, people.district_id)
        other_path = other.rsplit("/", 1)[0]
        pages += [
            (volunteer, f"{other_path}/{step}")
            for step in ("services", "consent", "person", "safety", "review")
        ]
        for client, path in pages:
            page = await client.get(path)
            assert page.status_code == 200, (path, page.status_code)
            assert page.headers["cache-control"] == "no-store", path
            assert PERSON_NAME not in title_of(page.text)
            loaded = re.findall(r'<(?:link|script|img)\b[^>]*\b(?:href|src)="([^"]+)"', page.text)
            assert all(url.startswith("/") and not url.startswith("//") for url in loaded), loaded
            weight = len(page.content)
            for url in loaded:
                asset = await client.get(url)
                assert asset.status_code == 200, url
                weight += len(asset.content)
            assert weight < 150_000, (path, weight)
            assert "<script" not in page.text  # the app's pages work without one
