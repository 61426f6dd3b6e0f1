"""The demo people: created in development with the passwords and TOTP secrets `relay demo
credentials` prints, and refused anywhere else."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from api.auth import totp
from api.cli import app
from api.config import Environment, Settings
from api.models.people import UserRole
from api.services import demo, people
from api.services.demo import DemoPeopleRefused
from api.services.people import SecondFactorNeeded, SignedIn
from tests.factories.people import ADDRESS


@pytest.fixture
def development(settings: Settings) -> Settings:
    return settings.model_copy(update={"environment": Environment.development})


async def test_each_demo_person_signs_in_as_printed(
    session: AsyncSession, development: Settings
) -> None:
    await demo.load(session)
    assert await demo.load_people(session, development) == 4
    assert await demo.load_people(session, development) == 0  # the same people, left alone
    printed = {person["role"]: person for person in demo.people_credentials(development)}
    assert set(printed) == {role.value for role in UserRole}
    volunteer = printed["volunteer"]
    assert volunteer["totp_secret"] is None
    assert volunteer["phone"] is not None
    step = await people.sign_in(
        session, development, volunteer["phone"], str(volunteer["password"]), ADDRESS
    )
    assert isinstance(step, SignedIn)
    for role in ("caseworker", "org_admin", "operator"):
        person = printed[role]
        secret = person["totp_secret"]
        assert secret is not None
        assert f"pyotp.TOTP('{secret}').now()" in str(person["totp_code_now"])
        step = await people.sign_in(
            session, development, str(person["login"]), str(person["password"]), ADDRESS
        )
        assert isinstance(step, SecondFactorNeeded), role
        code = totp.code_at(secret, _now())
        signed_in = await people.verify_second_factor(
            session, development, step.user_id, step.generation, code, ADDRESS
        )
        assert isinstance(signed_in, SignedIn), role
        assert signed_in.user.role.value == role


async def test_the_operator_is_in_the_operating_organisation(
    session: AsyncSession, development: Settings
) -> None:
    await demo.load(session)
    await demo.load_people(session, development)
    operator = await _user(session, "demo.operator")
    admin = await _user(session, "demo.admin")
    listed = await people.list_users(
        session, operator.principal(expires_at=_soon()), admin.organization_id
    )
    assert {user.role for user in listed} == {UserRole.caseworker, UserRole.org_admin}


async def test_refused_outside_development(session: AsyncSession, settings: Settings) -> None:
    assert settings.environment is Environment.test
    await demo.load(session)
    with pytest.raises(DemoPeopleRefused):
        await demo.load_people(session, settings)
    with pytest.raises(DemoPeopleRefused):
        demo.people_credentials(settings)


def test_the_credentials_command_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("RELAY_ENVIRONMENT", "test")
    for name in ("secret_key", "master_keys", "audit_signing_key"):
        value = getattr(settings, name).get_secret_value()
        monkeypatch.setenv(f"RELAY_{name.upper()}", value)
    result = CliRunner().invoke(app, ["demo", "credentials"])
    assert result.exit_code == 2
    assert "only in development" in result.stderr
    assert "password" not in result.output


async def _user(session: AsyncSession, login: str) -> people.SignedInUser:
    from api.repositories import people as repository

    found = await repository.find_by_login(session, login_name=login)
    assert found is not None
    return people.SignedInUser.of(found)


def _now() -> datetime:
    return datetime.now(UTC)


def _soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=15)
