"""``relay users …``: the operator's commands, run as the operator runs them (a real process,
committing for real; the rows are removed afterwards as the owner role)."""

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from api.cli import app
from tests.test_cli import run_relay

ORGANISATION = "CLI people test NGO"


@pytest.fixture
async def organization(owner_engine: AsyncEngine) -> AsyncIterator[str]:
    created = run_relay("orgs", "create", "--name", ORGANISATION, "--kind", "ngo", "--json")
    assert created.returncode == 0, created.stderr
    yield json.loads(created.stdout)["id"]
    async with owner_engine.begin() as connection:
        people = "user_id IN (SELECT id FROM user_account WHERE organization_id = :org)"
        for statement in (
            f"DELETE FROM invitation WHERE {people}",
            f"DELETE FROM recovery_code WHERE {people}",
            "DELETE FROM user_account WHERE organization_id = :org",
            "DELETE FROM organization WHERE id = :org",
        ):
            await connection.execute(text(statement), {"org": json.loads(created.stdout)["id"]})


def relay_json(*args: str) -> object:
    result = run_relay(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_invite_list_set_role_reset_deactivate(
    organization: str, owner_engine: AsyncEngine
) -> None:
    invited = run_relay(
        "users", "invite", "--org", organization, "--role", "volunteer",
        "--name", "Awa (CLI test)", "--phone", "+221 77 555 00 11", "--language", "fr",
    )  # fmt: skip
    assert invited.returncode == 0, invited.stderr
    assert "code:" in invited.stdout
    assert "link:    https://" in invited.stdout or "link:    http://" in invited.stdout
    assert "Relay keeps only its hash" in invited.stderr
    user_id = invited.stdout.split("user id ")[1].split()[0]

    listed = relay_json("users", "list", "--org", organization)
    assert isinstance(listed, list)
    assert [(row["id"], row["phone"], row["role"]) for row in listed] == [
        (user_id, "+221775550011", "volunteer")
    ]
    assert listed[0]["invitation_expires_at"] is not None
    table = run_relay("users", "list", "--org", organization)
    assert "invited" in table.stdout
    assert "never" in table.stdout

    changed = relay_json("users", "set-role", user_id, "caseworker")
    assert isinstance(changed, dict)
    assert changed["role"] == "caseworker"
    reset = relay_json("users", "reset", user_id)
    assert isinstance(reset, dict)
    assert reset["purpose"] == "reset"
    assert len(reset["code"]) == 14
    deactivated = relay_json("users", "deactivate", user_id)
    assert isinstance(deactivated, dict)
    assert deactivated["active"] is False

    async with owner_engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT action, client_id FROM audit_event WHERE :user = ANY(resource_ids) "
                "ORDER BY position"
            ),
            {"user": user_id},
        )
        assert [tuple(row) for row in rows] == [
            ("user.invite", "relay-cli"),
            ("user.role_change", "relay-cli"),
            ("user.reset", "relay-cli"),
            ("user.deactivate", "relay-cli"),
        ]


def test_bad_input_is_a_clear_error_without_a_traceback(organization: str) -> None:
    """In process (typer's runner: the same command, without a process's start-up time)."""
    cases = [
        (("users", "invite", "--org", organization, "--role", "boss", "--name", "X",
          "--login", "x.y.z"), 2, "--role is one of"),
        (("users", "invite", "--org", "not-an-id", "--role", "volunteer", "--name", "X",
          "--login", "x.y.z"), 2, "--org is an organisation id"),
        (("users", "invite", "--org", organization, "--role", "volunteer", "--name", "X"),
         1, "login name or a phone number"),
        (("users", "invite", "--org", organization, "--role", "operator", "--name", "X",
          "--login", "x.y.z"), 1, "operator role exists only"),
        (("users", "invite", "--org", organization, "--role", "volunteer", "--name", "X",
          "--login", "a b"), 1, "A login name is"),
        (("users", "deactivate", "not-a-uuid"), 2, "a user id is a UUID"),
        (("users", "reset", "00000000-0000-0000-0000-000000000001"), 1, "User not found"),
        (("users", "set-role", "00000000-0000-0000-0000-000000000001", "chief"), 2, "--role"),
    ]  # fmt: skip
    runner = CliRunner()
    for args, status, message in cases:
        result = runner.invoke(app, list(args))
        assert result.exit_code == status, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


async def test_notify_reads_the_contact_from_standard_input(
    organization: str, owner_engine: AsyncEngine
) -> None:
    import os
    import subprocess

    from tests.test_cli import RELAY

    invited = relay_json(
        "users", "invite", "--org", organization, "--role", "caseworker",
        "--name", "Duty officer (CLI test)", "--login", "duty.officer.cli",
    )  # fmt: skip
    assert isinstance(invited, dict)
    user_id = invited["user"]["id"]
    environment = dict(os.environ)
    environment["RELAY_DATABASE_URL"] = os.environ["RELAY_TEST_DATABASE_URL"]

    def notify(*args: str, typed: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
            [str(RELAY), "users", "notify", user_id, *args],
            input=typed,
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
        )

    told = notify(typed="duty.officer@cli.example\n")
    assert told.returncode == 0, told.stderr
    assert "by email" in told.stdout
    assert "duty.officer@cli.example" not in told.stdout + told.stderr
    refused = notify(typed="not an address\n")
    assert refused.returncode == 1
    assert "e-mail address" in refused.stderr
    assert "not an address" not in refused.stderr
    async with owner_engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT address FROM notification_contact WHERE user_id = :user"),
            {"user": user_id},
        )
    assert found == "duty.officer@cli.example"
    removed = notify("--remove")
    assert removed.returncode == 0, removed.stderr
    async with owner_engine.connect() as connection:
        left = await connection.scalar(
            text("SELECT count(*) FROM notification_contact WHERE user_id = :user"),
            {"user": user_id},
        )
    assert left == 0
