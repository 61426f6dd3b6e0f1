"""Settings refuse placeholder and weak secrets outside development."""

import os

import pytest
from pydantic import ValidationError

from api.config import Environment, Settings
from api.crypto import generate_master_key


@pytest.fixture(autouse=True)
def _no_relay_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("RELAY_"):
            monkeypatch.delenv(name)


class TestSecrets:
    def test_development_accepts_placeholders(self) -> None:
        settings = Settings(environment=Environment.development, _env_file=None)
        assert settings.secret_key.get_secret_value().startswith("dev-only-")

    @pytest.mark.parametrize("environment", [Environment.test, Environment.production])
    def test_placeholder_refused_elsewhere(self, environment: Environment) -> None:
        with pytest.raises(ValidationError, match="RELAY_SECRET_KEY"):
            Settings(
                environment=environment,
                database_url="postgresql+asyncpg://a:b@db/relay",
                _env_file=None,
            )

    def test_short_secret_refused(self) -> None:
        with pytest.raises(ValidationError, match="at least 32"):
            Settings(environment=Environment.test, secret_key="too-short", _env_file=None)

    def test_production_needs_its_own_database_url(self) -> None:
        with pytest.raises(ValidationError, match="RELAY_DATABASE_URL"):
            Settings(environment=Environment.production, secret_key="s" * 40, _env_file=None)

    def test_master_keys_must_be_set_outside_development(self) -> None:
        with pytest.raises(ValidationError, match="RELAY_MASTER_KEYS must be set"):
            Settings(environment=Environment.test, secret_key="k" * 40, _env_file=None)

    def test_the_audit_signing_key_must_be_set_outside_development(self) -> None:
        with pytest.raises(ValidationError, match="RELAY_AUDIT_SIGNING_KEY must be set"):
            Settings(
                environment=Environment.test,
                secret_key="k" * 40,
                master_keys=generate_master_key(),
                _env_file=None,
            )
        with pytest.raises(ValidationError, match="RELAY_AUDIT_SIGNING_KEY is the base64url"):
            Settings(audit_signing_key="c2hvcnQ", _env_file=None)

    def test_production_cannot_turn_the_audit_off(self) -> None:
        with pytest.raises(ValidationError, match="RELAY_AUDIT_ENABLED"):
            Settings(
                environment=Environment.production,
                database_url="postgresql+asyncpg://app:pw@db/relay",
                public_url="https://relay.example.org",
                secret_key="k" * 40,
                master_keys=generate_master_key(),
                audit_signing_key="a" * 43,
                audit_enabled=False,
                _env_file=None,
            )

    @pytest.mark.parametrize(
        "value", ["", "1", "one:AAAA", "1:AAAA", f"0:{'A' * 43}", f"1:{'A' * 43},1:{'B' * 43}"]
    )
    def test_malformed_master_keys_are_refused(self, value: str) -> None:
        with pytest.raises(ValidationError, match="RELAY_MASTER_KEYS"):
            Settings(master_keys=value, _env_file=None)

    def test_secrets_are_not_in_repr(self) -> None:
        master = generate_master_key()
        audit_key = "a" * 43
        settings = Settings(
            environment=Environment.test,
            secret_key="k" * 40,
            master_keys=master,
            audit_signing_key=audit_key,
            _env_file=None,
        )
        assert master not in repr(settings)
        assert audit_key not in repr(settings)
        assert "k" * 40 not in repr(settings)
        assert "relay_app:relay_app" not in repr(settings)

    def test_migration_url_defaults_to_database_url(self) -> None:
        settings = Settings(database_url="postgresql+asyncpg://a:b@db/x", _env_file=None)
        assert settings.owner_database_url == "postgresql+asyncpg://a:b@db/x"


class TestPublicUrl:
    @pytest.mark.parametrize(
        "url", ["https://relay.example.org", "http://127.0.0.1:8000", "http://localhost:9000"]
    )
    def test_accepted(self, url: str) -> None:
        assert Settings(public_url=url, _env_file=None).issuer == url

    @pytest.mark.parametrize("url", ["http://relay.example.org", "ftp://x", "relay.example.org"])
    def test_refused(self, url: str) -> None:
        with pytest.raises(ValidationError, match="RELAY_PUBLIC_URL"):
            Settings(public_url=url, _env_file=None)


class TestTrustedProxies:
    def test_none_by_default(self) -> None:
        assert Settings(_env_file=None).proxy_networks == []

    def test_addresses_and_networks(self) -> None:
        settings = Settings(trusted_proxies="10.0.0.5, 192.168.0.0/24,::1", _env_file=None)
        assert [str(n) for n in settings.proxy_networks] == [
            "10.0.0.5/32",
            "192.168.0.0/24",
            "::1/128",
        ]

    def test_refused_when_not_an_address(self) -> None:
        with pytest.raises(ValidationError, match="RELAY_TRUSTED_PROXIES"):
            Settings(trusted_proxies="proxy.example.org", _env_file=None)


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose.yaml passes `${RELAY_MASTER_KEYS:-}`: empty must mean "use the default"."""
    monkeypatch.setenv("RELAY_MASTER_KEYS", "")
    monkeypatch.setenv("RELAY_AUDIT_SIGNING_KEY", "")
    monkeypatch.setenv("RELAY_ENVIRONMENT", "development")
    settings = Settings(_env_file=None)
    assert settings.master.current == 1
    assert len(settings.audit_key_seed) == 32


@pytest.mark.parametrize(
    ("networks", "refused"),
    [
        ("127.0.0.0/8", True),
        ("169.254.169.254/32", True),
        ("::1/128", True),
        ("10.8.0.0/16", False),
    ],
)
def test_production_never_lets_webhooks_reach_loopback_or_link_local(
    networks: str, refused: bool
) -> None:
    values: dict[str, object] = {
        "environment": Environment.production,
        "database_url": "postgresql+asyncpg://app:pw@db/relay",
        "public_url": "https://relay.example.org",
        "secret_key": "k" * 40,
        "master_keys": generate_master_key(),
        "audit_signing_key": "a" * 43,
        "webhook_allowed_networks": networks,
        "_env_file": None,
    }
    if refused:
        with pytest.raises(ValidationError, match="RELAY_WEBHOOK_ALLOWED_NETWORKS"):
            Settings(**values)  # type: ignore[arg-type]
    else:
        assert Settings(**values).allowed_networks  # type: ignore[arg-type]
