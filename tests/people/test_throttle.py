"""Brute force against one account is slowed, the real person gets in again within minutes, and
one address cannot try many accounts (issue 20, acceptance 5). The throttles live in PostgreSQL:
what one API process counts, every other sees."""

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.config import Settings
from api.models.organization import Organization
from api.models.people import UserRole
from api.repositories import people as repository
from api.services import people
from api.services.people import Refused, SecondFactorNeeded, SignedIn, throttle
from tests.factories.organizations import create_organization
from tests.factories.people import ADDRESS, Person, create_person, travel

ATTACKER = "198.51.100.66"


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Kounda police post (test)")


async def fail(session: AsyncSession, settings: Settings, login: str, address: str) -> Refused:
    step = await people.sign_in(session, settings, login, "a wrong guess at it", address)
    assert isinstance(step, Refused)
    return step


class TestPerAccount:
    async def test_failures_past_the_free_ones_make_the_account_wait_doubling(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        waits = []
        for _ in range(9):
            refused = await fail(session, settings, person.login, ATTACKER)
            waits.append(round(refused.retry_after))
            await travel(session, refused.retry_after + 0.01)
        assert waits == [0, 0, 0, 0, 0, 15, 30, 60, 120]

    async def test_the_right_password_is_refused_during_the_wait_then_accepted(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        for _ in range(settings.sign_in_free_failures + 1):
            last = await fail(session, settings, person.login, ATTACKER)
        assert last.retry_after == pytest.approx(15, abs=1)
        # The real person, from their own address, with the right password: not checked yet.
        waiting = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(waiting, Refused)
        assert 0 < waiting.retry_after <= 15
        await travel(session, 16)
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SignedIn)
        # A completed sign-in forgets the account's failures: the next mistake is free again.
        assert (await fail(session, settings, person.login, ATTACKER)).retry_after == 0

    async def test_never_locked_for_more_than_a_few_minutes(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        longest = 0.0
        for _ in range(40):
            refused = await fail(session, settings, person.login, ATTACKER)
            longest = max(longest, refused.retry_after)
            await travel(session, refused.retry_after + 0.01)
        assert longest == settings.sign_in_backoff_max_seconds == 300
        await travel(session, 301)
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SignedIn)

    async def test_failures_are_forgotten_after_an_hour_without_one(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        for _ in range(settings.sign_in_free_failures):
            await fail(session, settings, person.login, ATTACKER)
        await travel(session, 61 * 60)
        assert (await fail(session, settings, person.login, ATTACKER)).retry_after == 0

    async def test_an_unknown_login_is_slowed_exactly_like_an_account(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        known, unknown = [], []
        for _ in range(7):
            known.append(round((await fail(session, settings, person.login, ATTACKER)).retry_after))
            unknown.append(
                round((await fail(session, settings, "no.such.one", ATTACKER)).retry_after)
            )
            await travel(session, max(known[-1], unknown[-1]) + 0.01)
        assert known == unknown == [0, 0, 0, 0, 0, 15, 30]

    async def test_second_factor_codes_count_on_the_same_account(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        for _ in range(settings.sign_in_free_failures + 1):
            step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
            assert isinstance(step, SecondFactorNeeded)
            refused = await people.verify_second_factor(
                session, settings, person.user_id, 1, "999999", ATTACKER
            )
            assert isinstance(refused, Refused)
        assert refused.retry_after == pytest.approx(15, abs=1)
        # The password step waits too: a right password buys no fresh guesses at the code.
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, Refused)
        assert step.throttled

    async def test_one_attempt_at_a_time_per_account(
        self,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        app: FastAPI,
    ) -> None:
        """A second attempt while one is under way (another process, another connection) is
        refused at once rather than checked beside it."""
        person = await create_person(session, settings, organization, UserRole.volunteer)
        keys = throttle.keys(settings, ATTACKER, user_id=person.user_id)
        engine: AsyncEngine = app.state.engine
        async with engine.connect() as other, other.begin():
            elsewhere = AsyncSession(bind=other)
            assert await repository.try_lock_account(elsewhere, keys.account or "")
            step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
            assert step == Refused(retry_after=throttle.BUSY_SECONDS)
            await elsewhere.close()


class TestTheirOwnDevice:
    """An attacker guessing from elsewhere never makes the person wait on a phone they signed
    in from before (a device token, kept by the pages in a cookie)."""

    async def signed_in_device(
        self, session: AsyncSession, settings: Settings, person: Person
    ) -> str:
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SignedIn)
        assert throttle.trusted_device(settings, person.user_id, step.device) is not None
        return step.device

    async def test_the_person_gets_in_at_once_while_the_account_waits(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        device = await self.signed_in_device(session, settings, person)
        for _ in range(20):
            refused = await fail(session, settings, person.login, ATTACKER)
            await travel(session, refused.retry_after + 0.01)
        last = await fail(session, settings, person.login, ATTACKER)
        assert last.retry_after == settings.sign_in_backoff_max_seconds
        # Without the device: the wait. With it: in, at once.
        waiting = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(waiting, Refused)
        assert waiting.throttled
        step = await people.sign_in(
            session, settings, person.login, person.password, ADDRESS, device=device
        )
        assert isinstance(step, SignedIn)

    async def test_the_second_step_too(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        first = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(first, SecondFactorNeeded)
        signed_in = await people.verify_second_factor(
            session, settings, person.user_id, 1, person.next_code(), ADDRESS
        )
        assert isinstance(signed_in, SignedIn)
        # Someone with the password guesses at the code from elsewhere until the account waits.
        for _ in range(settings.sign_in_free_failures + 1):
            await people.verify_second_factor(
                session, settings, person.user_id, 1, "999999", ATTACKER
            )
        step = await people.sign_in(
            session, settings, person.login, person.password, ADDRESS, device=signed_in.device
        )
        assert isinstance(step, SecondFactorNeeded)
        # (A recovery code: the authenticator's next code is half a minute away.)
        done = await people.use_recovery_code(
            session,
            settings,
            person.user_id,
            1,
            person.recovery_codes[0],
            ADDRESS,
            device=signed_in.device,
        )
        assert isinstance(done, SignedIn)

    @pytest.mark.parametrize("kind", ["forged", "another account's", "too long"])
    async def test_a_token_not_made_for_the_account_counts_as_none(
        self, session: AsyncSession, settings: Settings, organization: Organization, kind: str
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        other = await create_person(session, settings, organization, UserRole.volunteer)
        device = {
            "forged": "nonce." + "0" * 64,
            "another account's": await self.signed_in_device(session, settings, other),
            "too long": "n" * 200 + "." + "0" * 64,
        }[kind]
        assert throttle.trusted_device(settings, person.user_id, device) is None
        for _ in range(settings.sign_in_free_failures + 1):
            await fail(session, settings, person.login, ATTACKER)
        step = await people.sign_in(
            session, settings, person.login, person.password, ADDRESS, device=device
        )
        assert isinstance(step, Refused)
        assert step.throttled

    async def test_whoever_took_the_device_is_slowed_all_the_same(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        device = await self.signed_in_device(session, settings, person)
        waits = []
        for _ in range(settings.sign_in_free_failures + 2):
            step = await people.sign_in(
                session, settings, person.login, "a wrong guess at it", ATTACKER, device=device
            )
            assert isinstance(step, Refused)
            waits.append(round(step.retry_after))
            await travel(session, step.retry_after + 0.01)
        assert waits[-2:] == [15, 30]


class TestPerAddress:
    async def test_one_address_cannot_try_many_accounts(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        victim = await create_person(session, settings, organization, UserRole.volunteer)
        for index in range(settings.sign_in_failures_per_address):
            await fail(session, settings, f"sprayed.{index}", ATTACKER)
        from_there = await people.sign_in(
            session, settings, victim.login, victim.password, ATTACKER
        )
        assert isinstance(from_there, Refused)
        assert from_there.retry_after == pytest.approx(20, abs=1)  # 600 s / 30: one more
        from_home = await people.sign_in(session, settings, victim.login, victim.password, ADDRESS)
        assert isinstance(from_home, SignedIn)
        await travel(session, 21)
        again = await people.sign_in(session, settings, victim.login, victim.password, ATTACKER)
        assert isinstance(again, SignedIn)

    async def test_an_ipv6_subnet_counts_as_one_address(
        self, session: AsyncSession, settings: Settings
    ) -> None:
        for index in range(settings.sign_in_failures_per_address):
            await fail(session, settings, f"sprayed.{index}", f"2001:db8:1:2::{index + 1:x}")
        refused = await fail(session, settings, "sprayed.x", "2001:db8:1:2:ffff::1")
        assert refused.throttled
        other = await fail(session, settings, "sprayed.y", "2001:db8:1:3::1")
        assert not other.throttled
