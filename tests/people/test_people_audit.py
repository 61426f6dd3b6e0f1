"""What the audit trail keeps of people: their pseudonymous id as actor or resource, the
organisation they belong to as party; never a login name, a phone number, a name, a password, a
code or a secret."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.models.organization import Organization
from api.models.people import UserRole
from api.repositories.base import act_as_worker
from api.services import audit, people
from api.services.people import SecondFactorNeeded
from tests.factories.organizations import create_organization
from tests.factories.people import ADDRESS, create_person, invite


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await create_organization(session, name="Sabali committee (test)")


async def events(session: AsyncSession, since: int) -> list[dict[str, object]]:
    await act_as_worker(session)
    rows = await session.execute(
        text(
            "SELECT action, outcome, organization_id, client_id, acting_user, resource_type, "
            "resource_ids, parties, purpose_of_use, request_id, client_ip "
            "FROM audit_event WHERE position > :since ORDER BY position"
        ),
        {"since": since},
    )
    return [dict(row._mapping) for row in rows]


async def last_position(session: AsyncSession) -> int:
    await act_as_worker(session)
    return int(await session.scalar(text("SELECT coalesce(max(position), 0) FROM audit_event")))


async def test_every_step_is_audited_with_pseudonymous_ids_only(
    session: AsyncSession, settings: Settings, organization: Organization
) -> None:
    since = await last_position(session)
    person = await create_person(
        session, settings, organization, UserRole.caseworker, login="fatou.secret.name"
    )
    secrets_typed = [person.login, person.password, "Test person", person.totp_secret or ""]
    secrets_typed += person.recovery_codes
    await people.sign_in(session, settings, person.login, "a wrong password", ADDRESS)
    await people.sign_in(session, settings, "nobody.at.all", "a wrong password", ADDRESS)
    step = await people.sign_in(session, settings, person.login, person.password, ADDRESS)
    assert isinstance(step, SecondFactorNeeded)
    wrong = str((int(person.next_code()) + 1) % 1_000_000).zfill(6)
    await people.verify_second_factor(session, settings, person.user_id, 1, wrong, ADDRESS)
    await people.use_recovery_code(
        session, settings, person.user_id, 1, person.recovery_codes[0], ADDRESS
    )
    await people.change_role(session, settings, audit.CLI, person.user_id, UserRole.org_admin)
    await people.deactivate(session, settings, audit.CLI, person.user_id)
    phone_person = await invite(
        session, settings, organization, UserRole.volunteer, phone="+221770004242"
    )
    secrets_typed += ["+221770004242", "221770004242", phone_person.code]

    found = await events(session, since)
    user = str(person.user_id)
    pseudonym = f"user/{user}"
    summary = [
        (event["action"], event["outcome"], event["acting_user"], event["resource_ids"])
        for event in found
    ]
    assert summary == [
        ("user.invite", "success", None, [user]),
        ("user.redeem", "success", pseudonym, [user]),
        ("user.totp_enrol", "success", pseudonym, [user]),
        ("user.recovery_codes", "success", pseudonym, [user]),
        ("user.sign_in", "success", pseudonym, [user]),
        ("user.sign_in", "failure", None, [user]),
        ("user.sign_in", "failure", None, []),
        ("user.sign_in", "failure", None, [user]),
        ("user.recovery_code_use", "success", pseudonym, [user]),
        ("user.sign_in", "success", pseudonym, [user]),
        ("user.role_change", "success", None, [user]),
        ("user.deactivate", "success", None, [user]),
        ("user.invite", "success", None, [str(phone_person.user.id)]),
    ]
    for event in found:
        assert event["resource_type"] == "user_account"
        assert event["parties"] in ([organization.id], [])
        assert event["client_id"] in {"relay-web", "relay-cli"}
        flat = repr(event).casefold()
        for secret in secrets_typed:
            assert secret.casefold() not in flat, event["action"]
