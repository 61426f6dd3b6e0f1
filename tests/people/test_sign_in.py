"""Signing in: the password, then the second factor or its enrolment; recovery codes; what a
session checks on every use."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import totp
from api.config import Settings
from api.models.organization import Organization
from api.models.people import UserRole
from api.repositories import people as repository
from api.services import audit, people
from api.services.people import (
    EnrolmentNeeded,
    Refused,
    SecondFactorNeeded,
    SignedIn,
    TotpConfirmed,
)
from api.services.people.errors import SecondFactorNotNeeded
from tests.factories.organizations import create_organization
from tests.factories.people import ADDRESS, Person, create_person, invite, strong_password


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Sabali health centre (test)")


async def second_factor(
    session: AsyncSession, settings: Settings, person: Person, step: object
) -> SignedIn | Refused:
    assert isinstance(step, SecondFactorNeeded), step
    return await people.verify_second_factor(
        session, settings, step.user_id, step.generation, person.next_code(), ADDRESS
    )


class TestPassword:
    async def test_a_volunteer_signs_in_with_login_name_or_phone(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        invited = await invite(
            session,
            settings,
            organization,
            UserRole.volunteer,
            login="aminata.test",
            phone="+221 77 000 00 01",
        )
        password = strong_password()
        redeemed = await people.redeem_invitation(
            session, settings, invited.code, password, ADDRESS
        )
        assert isinstance(redeemed, SignedIn)
        for login in ("aminata.test", "Aminata.Test", " +221770000001 ", "00221 77 000 00 01"):
            step = await people.sign_in(session, settings, login, password, ADDRESS)
            assert isinstance(step, SignedIn), login
            assert step.user.user_id == invited.user.id
            assert step.user.role is UserRole.volunteer
        user = await repository.get(session, invited.user.id)
        assert user is not None
        assert user.last_sign_in_at is not None

    async def test_a_wrong_password_and_an_unknown_login_are_refused_alike(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        wrong = await people.sign_in(session, settings, person.login, "not my password", ADDRESS)
        unknown = await people.sign_in(session, settings, "nobody.here", person.password, ADDRESS)
        nonsense = await people.sign_in(session, settings, "!!", person.password, ADDRESS)
        assert wrong == unknown == nonsense == Refused(retry_after=0.0)

    async def test_a_deactivated_person_is_refused_even_with_the_right_password(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        await people.deactivate(session, settings, audit.CLI, person.user_id)
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert step == Refused()

    async def test_a_suspended_organisations_people_are_refused(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        organization.status = "suspended"
        session.add(organization)
        await session.flush()
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert step == Refused()
        assert await people.current_user(session, person.user_id, person.generation) is None

    async def test_a_hash_of_older_parameters_is_remade_at_sign_in(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        from argon2 import PasswordHasher, Type

        person = await create_person(session, settings, organization, UserRole.volunteer)
        older = PasswordHasher(time_cost=1, memory_cost=32, parallelism=1, type=Type.ID)
        await session.execute(
            text("UPDATE user_account SET password_hash = :hash WHERE id = :id"),
            {"hash": older.hash(person.password), "id": person.user_id},
        )
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SignedIn)
        stored = await session.scalar(
            text("SELECT password_hash FROM user_account WHERE id = :id"), {"id": person.user_id}
        )
        assert "$m=64,t=1,p=1$" in stored


class TestSecondFactor:
    async def test_a_caseworker_needs_a_code_after_the_password(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert step == SecondFactorNeeded(person.user_id, person.generation)
        signed_in = await second_factor(session, settings, person, step)
        assert isinstance(signed_in, SignedIn)
        assert signed_in.user.role is UserRole.caseworker

    async def test_a_wrong_code_and_a_reused_code_are_refused(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SecondFactorNeeded)
        code = person.next_code()
        wrong = str((int(code) + 1) % 1_000_000).zfill(6)
        verify = people.verify_second_factor
        assert await verify(session, settings, person.user_id, 1, wrong, ADDRESS) == Refused()
        assert await verify(session, settings, person.user_id, 1, "12 34", ADDRESS) == Refused()
        first = await verify(session, settings, person.user_id, 1, code, ADDRESS)
        assert isinstance(first, SignedIn)
        again = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(again, SecondFactorNeeded)
        replayed = await verify(session, settings, person.user_id, 1, code, ADDRESS)
        assert replayed == Refused()

    async def test_a_code_of_an_earlier_step_than_the_last_used_is_refused(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        assert person.totp_secret is not None
        assert person.last_step_used is not None
        previous = totp.code_at(person.totp_secret, _at_step(person.last_step_used - 1))
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SecondFactorNeeded)
        # The enrolment used the current step: the one before is older than the last used.
        refused = await people.verify_second_factor(
            session, settings, person.user_id, 1, previous, ADDRESS
        )
        assert refused == Refused()

    async def test_a_stale_generation_cannot_finish_a_sign_in(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SecondFactorNeeded)
        await people.sign_out_everywhere(session, person.principal())
        late = await second_factor(session, settings, person, step)
        assert late == Refused()

    async def test_a_first_sign_in_without_an_authenticator_enrols_one(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        invited = await invite(session, settings, organization, UserRole.org_admin)
        password = strong_password()
        step = await people.redeem_invitation(session, settings, invited.code, password, ADDRESS)
        assert step == EnrolmentNeeded(invited.user.id, 1)
        # Leaving without enrolling: the next sign-in asks again, and no session holds.
        assert await people.current_user(session, invited.user.id, 1) is None
        login = invited.user.login_name or ""
        again = await people.sign_in(session, settings, login, password, ADDRESS)
        assert again == EnrolmentNeeded(invited.user.id, 1)
        enrolment = await people.enrol_totp(
            session, settings, invited.user.id, 1, during_sign_in=True
        )
        assert enrolment.uri.startswith("otpauth://totp/Relay:")
        assert f"secret={enrolment.secret}" in enrolment.uri
        person = Person(invited.user.id, organization.id, UserRole.org_admin, login, password)
        person.totp_secret = enrolment.secret
        confirm = people.confirm_totp
        code = person.next_code()
        wrong = str((int(code) + 1) % 1_000_000).zfill(6)
        refused = await confirm(
            session, settings, person.user_id, 1, wrong, ADDRESS, during_sign_in=True
        )
        assert refused == Refused()
        assert await people.current_user(session, person.user_id, 1) is None
        confirmed = await confirm(
            session, settings, person.user_id, 1, code, ADDRESS, during_sign_in=True
        )
        assert isinstance(confirmed, TotpConfirmed)
        assert len(confirmed.recovery_codes) == people.RECOVERY_CODES
        assert len(set(confirmed.recovery_codes)) == people.RECOVERY_CODES
        assert await people.current_user(session, person.user_id, 1) == confirmed.user

    async def test_knowing_the_password_never_replaces_the_authenticator(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        with pytest.raises(SecondFactorNotNeeded):
            await people.enrol_totp(
                session, settings, person.user_id, person.generation, during_sign_in=True
            )

    async def test_replacing_the_authenticator_ends_the_other_sessions(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        enrolment = await people.enrol_totp(
            session, settings, person.user_id, person.generation, during_sign_in=False
        )
        # The old authenticator still works until the new one is confirmed.
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(await second_factor(session, settings, person, step), SignedIn)
        assert person.last_step_used is not None
        code = totp.code_at(enrolment.secret, _at_step(person.last_step_used))
        confirmed = await people.confirm_totp(
            session, settings, person.user_id, 1, code, ADDRESS, during_sign_in=False
        )
        assert isinstance(confirmed, TotpConfirmed)
        assert confirmed.recovery_codes == []  # the ones the person has still work
        assert confirmed.user.generation == 2
        assert await people.current_user(session, person.user_id, 1) is None

    async def test_a_volunteer_may_choose_an_authenticator(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(
            session, settings, organization, UserRole.volunteer, with_totp=True
        )
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(await second_factor(session, settings, person, step), SignedIn)


def _at_step(step: int) -> datetime:
    """A moment within TOTP time step ``step``."""
    return datetime.fromtimestamp(step * totp.PERIOD_SECONDS + 1, UTC)


class TestRecoveryCodes:
    async def test_each_code_opens_the_account_once(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        code = person.recovery_codes[0]
        use = people.use_recovery_code
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SecondFactorNeeded)
        typed = code.lower().replace("-", " ")  # read aloud, typed without care
        assert isinstance(await use(session, settings, person.user_id, 1, typed, ADDRESS), SignedIn)
        assert await use(session, settings, person.user_id, 1, code, ADDRESS) == Refused()
        assert await people.recovery_codes_left(session, person.user_id) == 9
        assert await use(session, settings, person.user_id, 1, "nonsense", ADDRESS) == Refused()

    async def test_another_persons_code_does_not_open_an_account(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        first = await create_person(session, settings, organization, UserRole.caseworker)
        second = await create_person(session, settings, organization, UserRole.caseworker)
        refused = await people.use_recovery_code(
            session, settings, first.user_id, 1, second.recovery_codes[0], ADDRESS
        )
        assert refused == Refused()

    async def test_new_codes_replace_the_old_ones(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        fresh = await people.regenerate_recovery_codes(session, settings, person.principal())
        use = people.use_recovery_code
        old = await use(session, settings, person.user_id, 1, person.recovery_codes[1], ADDRESS)
        assert old == Refused()
        assert isinstance(
            await use(session, settings, person.user_id, 1, fresh[0], ADDRESS), SignedIn
        )


class TestCurrentUser:
    async def test_a_session_holds_until_the_generation_moves(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        current = await people.current_user(session, person.user_id, 1)
        assert current is not None
        principal = current.principal(expires_at=_soon())
        assert principal.user_id == person.user_id
        assert principal.client_id == "relay-web"
        assert principal.acting_user == f"user/{person.user_id}"
        assert not principal.reads_personal_data
        assert await people.sign_out_everywhere(session, principal) == 2
        assert await people.current_user(session, person.user_id, 1) is None
        assert await people.current_user(session, person.user_id, 2) is not None
        assert await people.current_user(session, uuid.uuid4(), 1) is None


def _soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=15)


class TestChangePassword:
    async def test_the_person_changes_it_with_the_current_one_and_other_sessions_end(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        principal = person.principal()
        wrong = await people.change_password(
            session, settings, principal, "not the current one", strong_password(), ADDRESS
        )
        assert wrong == Refused()
        new_password = strong_password()
        changed = await people.change_password(
            session, settings, principal, person.password, new_password, ADDRESS
        )
        assert isinstance(changed, people.SignedInUser)
        assert changed.generation == 2
        assert await people.current_user(session, person.user_id, 1) is None
        old = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert old == Refused()
        new = await people.sign_in(session, settings, person.login, new_password, ADDRESS)
        assert isinstance(new, SignedIn)
