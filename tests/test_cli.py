"""The ``relay`` command, run as a user runs it: a real process."""

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api import __version__
from tests.factories.auth import ec_key, public_jwks

RELAY = Path(sys.executable).parent / "relay"


def run_relay(*args: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment["RELAY_DATABASE_URL"] = os.environ["RELAY_TEST_DATABASE_URL"]
    environment["RELAY_MIGRATION_DATABASE_URL"] = os.environ["RELAY_TEST_MIGRATION_DATABASE_URL"]
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(RELAY), *args], capture_output=True, text=True, env=environment, timeout=120
    )


class TestCli:
    def test_version(self) -> None:
        result = run_relay("version")
        assert result.returncode == 0
        assert result.stdout.strip() == __version__

    def test_db_current_is_head(self) -> None:
        result = run_relay("db", "current")
        assert result.returncode == 0, result.stderr
        assert "(head)" in result.stdout

    def test_openapi_check_passes_on_the_committed_file(self) -> None:
        result = run_relay("openapi", "--check")
        assert result.returncode == 0, result.stderr

    def test_openapi_check_fails_on_a_stale_file(self, tmp_path: Path) -> None:
        stale = tmp_path / "openapi.json"
        stale.write_text(json.dumps({"openapi": "3.1.0", "paths": {}}))
        result = run_relay("openapi", "--check", "--output", str(stale))
        assert result.returncode == 1
        assert "out of date" in result.stderr

    def test_worker_once_connects_and_stops(self) -> None:
        result = run_relay("worker", "--once")
        assert result.returncode == 0, result.stderr
        events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
        # One tick: it may have found work (sealing events other tests committed), never failed.
        assert events[0] == "worker_started"
        assert events[-1] == "worker_stopped"
        assert set(events[1:-1]) <= {"worker_tick"}, result.stderr


CLI_ORGANISATION = "CLI test NGO"


@pytest.fixture
async def forget_cli_rows(owner_engine: AsyncEngine) -> AsyncIterator[None]:
    """The CLI commits for real: remove what it wrote, as the owner role."""
    yield
    async with owner_engine.begin() as connection:
        owned = "organization_id IN (SELECT id FROM organization WHERE name = :name)"
        for statement in (
            f"DELETE FROM oauth_token WHERE {owned}",
            f"DELETE FROM oauth_client WHERE {owned}",
            "DELETE FROM organization WHERE name = :name",
        ):
            await connection.execute(text(statement), {"name": CLI_ORGANISATION})


@pytest.mark.usefixtures("forget_cli_rows")
class TestOnboardingCommands:
    async def test_the_operators_changes_are_in_the_audit_trail(
        self, owner_engine: AsyncEngine
    ) -> None:
        created = run_relay("orgs", "create", "--name", CLI_ORGANISATION, "--kind", "ngo", "--json")
        organization = json.loads(created.stdout)["id"]
        client = run_relay(
            "clients", "create", "--org", organization, "--scopes", "directory:read", "--json"
        )
        client_id = json.loads(client.stdout)["client_id"]
        assert run_relay("clients", "disable", client_id).returncode == 0
        async with owner_engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT action, resource_type, client_id FROM audit_event"
                    " WHERE :org = ANY(parties) ORDER BY position"
                ),
                {"org": organization},
            )
            events = [tuple(row) for row in rows]
        assert events == [
            ("admin.create", "organization", "relay-cli"),
            ("admin.create", "oauth_client", "relay-cli"),
            ("admin.disable", "oauth_client", "relay-cli"),
        ]

    def test_orgs_and_clients_round_trip_as_json(self, tmp_path: Path) -> None:
        created = run_relay("orgs", "create", "--name", CLI_ORGANISATION, "--kind", "ngo", "--json")
        assert created.returncode == 0, created.stderr
        organization = json.loads(created.stdout)
        assert set(organization) >= {"id", "name", "kind", "status"}

        client = run_relay(
            "clients",
            "create",
            "--org",
            organization["id"],
            "--scopes",
            "directory:read audit:read",
            "--json",
        )
        assert client.returncode == 0, client.stderr
        credentials = json.loads(client.stdout)
        assert credentials["client_id"].startswith("rly_client_")
        assert credentials["client_secret"].startswith("rly_secret_")
        assert credentials["scopes"] == ["directory:read", "audit:read"]

        rotated = run_relay("clients", "rotate-secret", credentials["client_id"], "--json")
        assert rotated.returncode == 0, rotated.stderr
        assert json.loads(rotated.stdout)["client_secret"] != credentials["client_secret"]

        disabled = run_relay("clients", "disable", credentials["client_id"], "--json")
        assert disabled.returncode == 0, disabled.stderr
        assert json.loads(disabled.stdout)["disabled_at"] is not None

        jwks = tmp_path / "jwks.json"
        jwks.write_text(json.dumps(public_jwks(ec_key("cli-key"))))
        key_client = run_relay(
            "clients",
            "create",
            "--org",
            organization["id"],
            "--scopes",
            "referrals:send",
            "--jwks-file",
            str(jwks),
            "--json",
        )
        assert key_client.returncode == 0, key_client.stderr
        assert json.loads(key_client.stdout)["client_secret"] is None

    def test_an_app_acting_for_people(self) -> None:
        created = run_relay("orgs", "create", "--name", CLI_ORGANISATION, "--kind", "ngo", "--json")
        organization = json.loads(created.stdout)["id"]
        app = run_relay(
            "clients",
            "create",
            "--org",
            organization,
            "--scopes",
            "directory:read referrals:send",
            "--name",
            "Field app",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--redirect-uri",
            "https://app.example.org/relay",
            "--any-organisation",
            "--json",
        )
        assert app.returncode == 0, app.stderr
        registered = json.loads(app.stdout)
        assert registered["auth_method"] == "none"
        assert registered["client_secret"] is None
        assert registered["any_organization"] is True
        assert registered["redirect_uris"] == [
            "http://127.0.0.1/callback",
            "https://app.example.org/relay",
        ]
        wildcard = run_relay(
            "clients",
            "create",
            "--org",
            organization,
            "--scopes",
            "directory:read",
            "--public",
            "--redirect-uri",
            "https://*.example.org/cb",
        )
        assert wildcard.returncode == 1
        assert "no wildcards" in wildcard.stderr
        no_uri = run_relay(
            "clients", "create", "--org", organization, "--scopes", "directory:read", "--public"
        )
        assert no_uri.returncode == 1
        assert "redirect URIs" in no_uri.stderr

    def test_every_import_is_a_relay_import_command(self) -> None:
        result = run_relay("import", "--help")
        assert result.returncode == 0, result.stderr
        for command in ("facilities", "areas", "hsds"):
            assert command in result.stdout

    def test_an_hsds_feed_that_is_not_json_is_a_clear_error(self, tmp_path: Path) -> None:
        feed = tmp_path / "feed.json"
        feed.write_text("{not json")
        result = run_relay("import", "hsds", str(feed), "--report", str(tmp_path / "r.csv"))
        assert result.returncode == 2
        assert "not JSON (line 1)" in result.stderr
        assert "Traceback" not in result.stderr
        wrong_kind = run_relay("import", "hsds", str(feed), "--kind", "bakery")
        assert wrong_kind.returncode == 2
        assert "--kind must be one of" in wrong_kind.stderr

    def test_bad_input_is_a_clear_error(self) -> None:
        result = run_relay("orgs", "create", "--name", "X", "--kind", "bakery")
        assert result.returncode == 2
        assert "kind" in result.stderr
        assert "Traceback" not in result.stderr
        missing = run_relay("clients", "disable", "rly_client_nobody")
        assert missing.returncode == 1
        assert "Client not found" in missing.stderr
