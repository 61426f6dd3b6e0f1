"""Invitations, resets, roles and deactivation, and who may do them to whom."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.auth.scopes import Scope
from api.config import Settings
from api.models.organization import Organization
from api.models.people import InvitationPurpose, UserAccount, UserRole
from api.schemas.organizations import OrganizationCreate
from api.services import audit, organizations, people
from api.services.organizations import OperatorExists, OrganizationNotFound
from api.services.people import EnrolmentNeeded, Refused, SecondFactorNeeded, SignedIn
from api.services.people.errors import (
    InvalidDisplayName,
    InvalidLanguage,
    InvalidLogin,
    LoginTaken,
    NotAllowed,
    OperatorOrganization,
    OwnAccount,
    PasswordNotAccepted,
    UserDeactivated,
    UserNotFound,
)
from tests.factories.auth import create_partner
from tests.factories.organizations import create_organization
from tests.factories.people import (
    ADDRESS,
    create_operator_organization,
    create_person,
    invite,
    strong_password,
    unique_login,
)


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Mbayène shelter (test)")


@pytest.fixture
async def elsewhere(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Kounda legal clinic (test)")


class TestInvitations:
    async def test_a_code_to_type_and_a_link_shown_once(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        invited = await invite(session, settings, organization, UserRole.volunteer)
        assert re.fullmatch(
            r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", invited.code
        )
        assert invited.link == f"https://relay.test/app/invitation/{invited.code}"
        assert invited.purpose is InvitationPurpose.first_password
        expected = datetime.now(UTC) + timedelta(hours=72)
        assert abs((invited.expires_at - expected).total_seconds()) < 60
        stored = (await session.execute(text("SELECT code_hash FROM invitation"))).scalars().all()
        assert all(
            invited.code not in value and invited.code.replace("-", "") not in value
            for value in stored
        )

    async def test_the_code_is_read_case_blind_and_ambiguous_letters_as_digits(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        invited = await invite(session, settings, organization, UserRole.volunteer)
        sloppy = invited.code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
        details = await people.invitation_details(session, settings, sloppy, ADDRESS)
        assert isinstance(details, people.InvitationDetails)
        assert details.role is UserRole.volunteer
        assert details.minimum_password_length == 15

    async def test_used_expired_and_unknown_codes_are_refused_alike(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        used = await invite(session, settings, organization, UserRole.volunteer)
        redeem = people.redeem_invitation
        assert isinstance(
            await redeem(session, settings, used.code, strong_password(), ADDRESS), SignedIn
        )
        expired = await invite(session, settings, organization, UserRole.volunteer)
        await session.execute(
            text(
                "UPDATE invitation SET expires_at = now() - interval '1 second' WHERE user_id = :id"
            ),
            {"id": expired.user.id},
        )
        answers = [
            await redeem(session, settings, code, strong_password(), ADDRESS)
            for code in (used.code, expired.code, "ZZZZ-ZZZZ-ZZZZ", "not a code at all")
        ]
        assert answers == [Refused()] * 4

    async def test_a_new_invitation_ends_the_earlier_one(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        first = await invite(session, settings, organization, UserRole.volunteer)
        second = await people.reset(session, settings, audit.CLI, first.user.id)
        assert second.purpose is InvitationPurpose.reset
        redeem = people.redeem_invitation
        assert await redeem(session, settings, first.code, strong_password(), ADDRESS) == Refused()
        assert isinstance(
            await redeem(session, settings, second.code, strong_password(), ADDRESS), SignedIn
        )

    async def test_a_refused_password_leaves_the_invitation_usable(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        invited = await invite(session, settings, organization, UserRole.caseworker)
        with pytest.raises(PasswordNotAccepted, match="at least 10"):
            await people.redeem_invitation(session, settings, invited.code, "short", ADDRESS)
        with pytest.raises(PasswordNotAccepted, match="most common"):
            await people.redeem_invitation(session, settings, invited.code, "password123", ADDRESS)
        step = await people.redeem_invitation(
            session, settings, invited.code, strong_password(), ADDRESS
        )
        assert step == EnrolmentNeeded(invited.user.id, 1)

    async def test_wrong_codes_count_against_the_address(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        invited = await invite(session, settings, organization, UserRole.volunteer)
        for index in range(settings.sign_in_failures_per_address):
            await people.redeem_invitation(
                session, settings, f"AAAA-AAAA-{index:04d}", "x", "203.0.113.9"
            )
        refused = await people.redeem_invitation(
            session, settings, invited.code, strong_password(), "203.0.113.9"
        )
        assert isinstance(refused, Refused)
        assert refused.throttled

    async def test_invalid_names_are_refused(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        def make(**fields: object) -> object:
            values = {
                "organization_id": organization.id,
                "role": UserRole.volunteer,
                "display_name": "Awa",
                "login_name": unique_login(),
            }
            values.update(fields)
            return people.invite(session, settings, audit.CLI, **values)  # type: ignore[arg-type]

        with pytest.raises(InvalidLogin):
            await make(login_name="a b")
        with pytest.raises(InvalidLogin):
            await make(login_name=None, phone="77 000 00 01")  # no country code
        with pytest.raises(InvalidLogin):
            await make(login_name=None)
        with pytest.raises(InvalidLanguage):
            await make(preferred_language="de")
        with pytest.raises(InvalidDisplayName):
            await make(display_name="\u0000")
        with pytest.raises(OrganizationNotFound):
            await make(organization_id=uuid.uuid4())

    async def test_logins_and_phones_are_unique_whatever_the_case_or_spacing(
        self,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        elsewhere: Organization,
    ) -> None:
        await invite(
            session,
            settings,
            organization,
            UserRole.volunteer,
            login="awa.ndiaye",
            phone="+221770000123",
        )
        with pytest.raises(LoginTaken):
            await invite(session, settings, elsewhere, UserRole.volunteer, login="Awa.Ndiaye")
        with pytest.raises(LoginTaken):
            await invite(
                session, settings, elsewhere, UserRole.volunteer, phone="+221 77 000 01 23"
            )


class TestWhoManagesWhom:
    async def test_an_org_admin_manages_only_their_own_organisations_people(
        self,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        elsewhere: Organization,
    ) -> None:
        admin = (
            await create_person(session, settings, organization, UserRole.org_admin)
        ).principal()
        theirs = await create_person(session, settings, elsewhere, UserRole.caseworker)
        mine = await invite(session, settings, organization, UserRole.org_admin, by=admin)
        assert mine.user.role is UserRole.org_admin
        with pytest.raises(NotAllowed):
            await invite(session, settings, elsewhere, UserRole.volunteer, by=admin)
        with pytest.raises(NotAllowed):
            await people.list_users(session, admin, elsewhere.id)
        for change in (
            people.deactivate(session, settings, admin, theirs.user_id),
            people.reset(session, settings, admin, theirs.user_id),
            people.change_role(session, settings, admin, theirs.user_id, UserRole.volunteer),
            people.get_user(session, admin, theirs.user_id),
        ):
            with pytest.raises(UserNotFound):
                await change

    async def test_nobody_escalates(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        admin_person = await create_person(session, settings, organization, UserRole.org_admin)
        admin = admin_person.principal()
        caseworker = await create_person(session, settings, organization, UserRole.caseworker)
        volunteer = await create_person(session, settings, organization, UserRole.volunteer)
        with pytest.raises(NotAllowed):
            await invite(session, settings, organization, UserRole.operator, by=admin)
        with pytest.raises(NotAllowed):
            await people.change_role(
                session, settings, admin, caseworker.user_id, UserRole.operator
            )
        for someone in (caseworker, volunteer):
            with pytest.raises(NotAllowed):
                await invite(
                    session, settings, organization, UserRole.volunteer, by=someone.principal()
                )
            with pytest.raises(NotAllowed):
                await people.change_role(
                    session, settings, someone.principal(), someone.user_id, UserRole.org_admin
                )
        with pytest.raises(OwnAccount):
            await people.change_role(
                session, settings, admin, admin_person.user_id, UserRole.volunteer
            )
        with pytest.raises(OwnAccount):
            await people.deactivate(session, settings, admin, admin_person.user_id)
        with pytest.raises(OwnAccount):
            await people.reset(session, settings, admin, admin_person.user_id)

    async def test_a_partners_system_does_not_manage_people_but_the_operators_may(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        partner = await create_partner(session, settings, scopes=list(Scope))
        client = Principal(
            client_id=partner.client.client_id,
            client_pk=None,
            organization_id=partner.organization.id,
            scopes=frozenset(scope.value for scope in Scope if scope is not Scope.admin),
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
        )
        with pytest.raises(NotAllowed):
            await invite(session, settings, organization, UserRole.volunteer, by=client)
        operator_client = Principal(
            client_id=client.client_id,
            client_pk=None,
            organization_id=client.organization_id,
            scopes=frozenset({Scope.admin.value}),
            expires_at=client.expires_at,
        )
        invited = await invite(
            session, settings, organization, UserRole.org_admin, by=operator_client
        )
        assert invited.user.organization_id == organization.id

    async def test_operators_only_in_the_operators_organisation_and_only_they(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        operating = await create_operator_organization(session)
        with pytest.raises(OperatorOrganization):
            await invite(session, settings, organization, UserRole.operator)
        with pytest.raises(OperatorOrganization):
            await invite(session, settings, operating, UserRole.org_admin)
        operator = await create_person(session, settings, operating, UserRole.operator)
        first_admin = await invite(
            session, settings, organization, UserRole.org_admin, by=operator.principal()
        )
        assert first_admin.user.role is UserRole.org_admin
        with pytest.raises(OperatorOrganization):
            await people.change_role(
                session, settings, operator.principal(), first_admin.user.id, UserRole.operator
            )
        second = OrganizationCreate(name="Second operator", kind="ngo")
        with pytest.raises(OperatorExists):
            await organizations.create(session, second, operator=True)

    async def test_the_database_itself_keeps_operators_where_they_belong(
        self, session: AsyncSession, organization: Organization
    ) -> None:
        intruder = UserAccount(
            organization_id=organization.id,
            role=UserRole.operator.value,
            operator=True,
            login_name=unique_login(),
            display_name="Not an operator",
        )
        savepoint = await session.begin_nested()
        session.add(intruder)
        with pytest.raises(IntegrityError, match="fk_user_account_organization_id_organization"):
            await session.flush()
        await savepoint.rollback()


class TestChanges:
    async def test_deactivation_ends_sessions_and_tokens_at_once(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        assert await people.current_user(session, person.user_id, 1) is not None
        summary = await people.deactivate(session, settings, audit.CLI, person.user_id)
        assert not summary.active
        generation = await session.scalar(
            text("SELECT generation FROM user_account WHERE id = :id"), {"id": person.user_id}
        )
        assert generation == 2
        assert await people.current_user(session, person.user_id, 1) is None
        assert await people.current_user(session, person.user_id, 2) is None
        with pytest.raises(UserDeactivated):
            await people.reset(session, settings, audit.CLI, person.user_id)
        again = await people.deactivate(session, settings, audit.CLI, person.user_id)
        assert again.deactivated_at == summary.deactivated_at

    async def test_a_reset_takes_the_account_back_at_once(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.caseworker)
        invited = await people.reset(session, settings, audit.CLI, person.user_id)
        refused = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert refused == Refused()
        assert await people.current_user(session, person.user_id, person.generation) is None
        assert await people.recovery_codes_left(session, person.user_id) == 0
        new_password = strong_password()
        step = await people.redeem_invitation(
            session, settings, invited.code, new_password, ADDRESS
        )
        assert step == EnrolmentNeeded(person.user_id, 2)  # the authenticator went too
        after = await people.sign_in(session, settings, person.login, new_password, ADDRESS)
        assert after == EnrolmentNeeded(person.user_id, 2)

    async def test_a_role_change_ends_sessions_and_may_require_a_second_factor(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(session, settings, organization, UserRole.volunteer)
        changed = await people.change_role(
            session, settings, audit.CLI, person.user_id, UserRole.caseworker
        )
        assert changed.role is UserRole.caseworker
        assert await people.current_user(session, person.user_id, 1) is None
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert step == EnrolmentNeeded(person.user_id, 2)

    async def test_an_org_admin_sees_their_people_and_their_last_sign_in(
        self,
        session: AsyncSession,
        settings: Settings,
        organization: Organization,
        elsewhere: Organization,
    ) -> None:
        admin = await create_person(session, settings, organization, UserRole.org_admin)
        volunteer = await create_person(session, settings, organization, UserRole.volunteer)
        invited = await invite(session, settings, organization, UserRole.caseworker)
        await create_person(session, settings, elsewhere, UserRole.volunteer)
        listed = {user.id: user for user in await people.list_users(session, admin.principal())}
        assert set(listed) == {admin.user_id, volunteer.user_id, invited.user.id}
        assert listed[volunteer.user_id].last_sign_in_at is not None
        assert listed[volunteer.user_id].invitation_expires_at is None
        assert listed[invited.user.id].last_sign_in_at is None
        assert listed[invited.user.id].invitation_expires_at == invited.expires_at
        assert listed[admin.user_id].second_factor
        assert not listed[volunteer.user_id].second_factor

    async def test_signing_in_after_a_second_factor_was_added_by_the_person(
        self, session: AsyncSession, settings: Settings, organization: Organization
    ) -> None:
        person = await create_person(
            session, settings, organization, UserRole.volunteer, with_totp=True
        )
        step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
        assert isinstance(step, SecondFactorNeeded)


async def test_a_login_taken_meanwhile_is_a_conflict_not_an_error(
    session: AsyncSession, organization: Organization
) -> None:
    """Two invitations with one login at the same moment: both pass the check, the database
    keeps one (its unique index), the other is told the login is taken."""
    from api.repositories import people as repository

    login = unique_login()

    def account() -> UserAccount:
        return UserAccount(
            organization_id=organization.id,
            role=UserRole.volunteer.value,
            login_name=login,
            display_name="Twice",
        )

    assert await repository.add_if_free(session, account())
    assert not await repository.add_if_free(session, account())
    assert await repository.find_by_login(session, login_name=login) is not None
