"""One typed settings object, read from the environment (prefix ``RELAY_``) and ``.env``.

Secrets have development placeholders so that ``make run`` works on a fresh clone; any other
environment refuses to start with a placeholder, an empty or a short secret.
"""

import base64
import binascii
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.crypto import CryptoError, MasterKeys

DEVELOPMENT_DATABASE_URL = "postgresql+asyncpg://relay_app:relay_app@127.0.0.1:5432/relay"
PLACEHOLDER_PREFIX = "dev-only-"
MINIMUM_SECRET_LENGTH = 32
# OWASP's minimum for Argon2id (m=19 MiB, t=2, p=1): production refuses weaker password hashing.
MINIMUM_PASSWORD_HASH_MEMORY_KIB = 19 * 1024
MINIMUM_PASSWORD_HASH_TIME_COST = 2
# Development only (refused elsewhere): base64url of "dev-only-master-key-change-me-01".
PLACEHOLDER_MASTER_KEYS = "1:ZGV2LW9ubHktbWFzdGVyLWtleS1jaGFuZ2UtbWUtMDE"
# Development only (refused elsewhere): base64url of "dev-only-audit-key-change-me-001".
PLACEHOLDER_AUDIT_KEY = "ZGV2LW9ubHktYXVkaXQta2V5LWNoYW5nZS1tZS0wMDE"


_LOOPBACK = {4: ip_network("127.0.0.0/8"), 6: ip_network("::1/128")}
_LINK_LOCAL = {4: ip_network("169.254.0.0/16"), 6: ip_network("fe80::/10")}


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class NotifierKind(StrEnum):
    """How people are told of new urgent referrals by e-mail: written to the log (development),
    or sent through an SMTP server."""

    log = "log"
    smtp = "smtp"


class LogFormat(StrEnum):
    json = "json"
    console = "console"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RELAY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # An empty variable (compose passes `${RELAY_MASTER_KEYS:-}`) counts as unset.
        env_ignore_empty=True,
        # What a setting is for is the docstring under it (its field's description).
        use_attribute_docstrings=True,
    )

    environment: Environment = Environment.development
    database_url: SecretStr = SecretStr(DEVELOPMENT_DATABASE_URL)
    """Where the API and worker connect: the application role."""
    migration_database_url: SecretStr | None = None
    """Where migrations run: the owner role. Defaults to database_url."""
    database_read_url: SecretStr | None = None
    """Where the reads that tolerate a little lag go (the searches, HSDS, OGC, the lookup pages), as
    the application role: a cluster's replicas, e.g. a multi-host URL with
    target_session_attrs=prefer-standby (docs/scaling.md). A caller that may write the directory
    reads from database_url. Unset: every read does."""
    app_role: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "relay_app"
    """Database role the API runs as; migrations grant it table privileges."""
    database_pool_size: Annotated[int, Field(ge=1, le=100)] = 10
    """Connections per process, at most; a request beyond waits for one."""
    database_pool_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    """How long a request waits for a connection before a 503 database-busy."""
    database_statement_timeout_ms: Annotated[int, Field(ge=100, le=600_000)] = 15_000
    database_connect_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    """How long opening a database connection may take before the request is answered 503
    database-unavailable (a host that stops answering, not refusing)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    public_url: str = "http://127.0.0.1:8000"
    """Base URL partners reach the API at (issuer, links)."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    max_service_area_km2: Annotated[float, Field(gt=0, le=600_000_000)] = 100_000.0
    """Largest total service area a partner may declare for a service, in km² (a large region of a
    country); larger ones only the operator (admin)."""

    access_token_lifetime_seconds: Annotated[int, Field(ge=60, le=3600)] = 600
    """Lifetime of issued access tokens."""
    refresh_token_idle_days: Annotated[float, Field(gt=0, le=30)] = 7.0
    """How long a refresh token of an app acting for a person may wait for its use (each use gives a
    new one)."""
    refresh_family_lifetime_days: Annotated[float, Field(gt=0, le=90)] = 30.0
    """How long an app may act for a person after they allowed it, however often it refreshes: then
    the person signs in to the app again."""
    token_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 30.0
    """How long a process may answer from memory for a token it has checked (0: ask the database
    every time). Only while it hears PostgreSQL's notices of revocations (docs/security.md, 'Token
    checks')."""
    client_requests_per_minute: Annotated[int, Field(ge=1, le=1_000_000)] = 1200
    """Per-client request budget, per process."""
    anonymous_requests_per_minute: Annotated[int, Field(ge=1, le=1_000_000)] = 120
    """Budget of callers without a token on the expensive routes (searches, directory listings, OGC
    items, the lookup pages' results), per address (an IPv6 /64) and per process; 429 beyond it."""
    trusted_proxies: str = ""
    """Addresses or networks of reverse proxies whose X-Forwarded-For names the caller (comma
    separated; `relay serve` passes them to uvicorn). Empty: the TCP peer is the caller."""
    token_failures_per_window: Annotated[int, Field(ge=1, le=10_000)] = 10
    """Failed token requests allowed per client id from one address."""
    token_failures_per_ip_per_window: Annotated[int, Field(ge=1, le=100_000)] = 50
    """Failed token requests allowed per address."""
    token_failure_window_seconds: Annotated[int, Field(ge=1, le=86_400)] = 300

    password_hash_time_cost: Annotated[int, Field(ge=1, le=20)] = 3
    """Argon2id passes over memory when hashing a person's password (RFC 9106 second recommended
    option: 3). Production refuses fewer than 2."""
    password_hash_memory_kib: Annotated[int, Field(ge=8, le=4 * 1024 * 1024)] = 64 * 1024
    """Argon2id memory per password hash, in KiB (64 MiB). Production refuses less than 19 MiB
    (19456), OWASP's minimum."""
    password_hash_parallelism: Annotated[int, Field(ge=1, le=16)] = 4
    """Argon2id lanes per password hash."""
    password_hash_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    """Password hashes computed at once per process, at most (each takes
    RELAY_PASSWORD_HASH_MEMORY_KIB); sign-ins beyond wait their turn."""
    invitation_lifetime_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 72.0
    """How long an invitation (or a reset) code may be used to set a password."""
    sign_in_free_failures: Annotated[int, Field(ge=1, le=100)] = 5
    """Failed sign-ins of one account (or one login) before it must wait."""
    sign_in_backoff_seconds: Annotated[float, Field(gt=0, le=600)] = 15.0
    """The wait after the first failure past the free ones; it doubles with each further failure, up
    to RELAY_SIGN_IN_BACKOFF_MAX_SECONDS."""
    sign_in_backoff_max_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0
    """The longest an account waits after a failure: never locked for hours."""
    sign_in_failures_forgotten_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = 60.0
    """An account's failures are forgotten after this long without one."""
    sign_in_failures_per_address: Annotated[int, Field(ge=1, le=100_000)] = 30
    """Failed sign-ins and invitation codes allowed per address (an IPv6 /64) per
    RELAY_SIGN_IN_ADDRESS_WINDOW_SECONDS, before that address must wait."""
    sign_in_address_window_seconds: Annotated[int, Field(ge=1, le=86_400)] = 600
    reports_per_address: Annotated[int, Field(ge=1, le=10_000)] = 5
    """Anonymous reports of a wrong directory entry allowed per address (an IPv6 /64) per
    RELAY_REPORT_ADDRESS_WINDOW_SECONDS."""
    report_address_window_seconds: Annotated[int, Field(ge=1, le=86_400)] = 3600
    session_idle_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 15.0
    """A web session (Relay's own pages) ends after this long without a request: phones are shared.
    """
    session_absolute_hours: Annotated[float, Field(gt=0, le=7 * 24)] = 12.0
    """A web session ends this long after sign-in, however busy."""
    totp_issuer: Annotated[
        str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 ._-]+$")
    ] = "Relay"
    """The name authenticator apps show beside a person's Relay code."""

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.json

    secret_key: SecretStr = SecretStr(PLACEHOLDER_PREFIX + "secret-key-change-me-0123456789")
    """Root secret for keyed hashes of tokens and secrets (32+ characters)."""

    master_keys: SecretStr = SecretStr(PLACEHOLDER_MASTER_KEYS)
    """Master keys wrapping referrals' data keys: 'version:base64url' (32 bytes), comma separated;
    the highest version wraps new keys (`relay keys generate` makes one)."""
    referral_due_hours: str = "routine:72,urgent:24,asap:4,stat:1"
    """Hours the receiver has to acknowledge a referral, per priority (routine, urgent, asap, stat).
    """
    referral_retention_days: Annotated[int, Field(ge=1, le=3650)] = 180
    """Days a closed referral keeps the person's data before the worker erases it (its data key is
    destroyed; the ids, codes and history stay)."""
    referral_draft_hours: Annotated[int, Field(ge=1, le=24 * 14)] = 72
    """Hours a referral begun on Relay's pages is kept, sealed on the server, for its sender to
    finish (after a lost connection or the idle timeout); the worker then deletes it."""

    statistics_threshold: Annotated[int, Field(ge=3, le=1000)] = 5
    """Counts of the accountability figures under this are not published (nor the complements that
    would let them be worked out); never below 3."""
    statistics_refresh_seconds: Annotated[float, Field(ge=0, le=86400)] = 60
    """The worker rebuilds a quarter's figures at most this often while its referrals change."""
    directory_stale_days: Annotated[int, Field(ge=1, le=3650)] = 180
    """Days after which a directory entry nobody confirmed is stale: its organisation hears of it
    (directory.stale) and the operator lists it."""

    worker_lag_warning_seconds: Annotated[int, Field(ge=5, le=86400)] = 60
    """The worker logs a warning when events wait this long to be numbered, audit events to be
    sealed, due webhook deliveries to be sent, or a job has not succeeded for this long."""

    event_retention_days: Annotated[int, Field(ge=8, le=3650)] = 30
    """Days the event feed keeps events (a partner down for a week can catch up); older cursors get
    410."""
    outbox_retention_months: Annotated[int, Field(ge=1, le=120)] = 2
    """Whole months the outbox keeps before the current one: an older month's partition is dropped
    once every event in it reached everyone who should hear of it (never before). Keep it longer
    than RELAY_EVENT_RETENTION_DAYS."""
    partition_months_ahead: Annotated[int, Field(ge=1, le=24)] = 3
    """Months of partitions of the audit trail and the outbox the worker keeps made ahead of the
    current one (there is no default partition: a write to a month without one would fail)."""
    webhook_allowed_networks: str = ""
    """Comma-separated networks webhooks may reach although they are not public (e.g.
    '127.0.0.0/8,::1/128' to try webhooks on this machine). Empty: private, loopback, link-local and
    reserved addresses are refused."""
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    """Seconds to wait before each retry of a failed delivery, comma separated (each +-20% jitter);
    after the last, the delivery is dead-lettered."""
    webhook_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    webhook_lease_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    """How long a worker holds a delivery it is sending; a worker that dies lets another retry it
    after this. Must exceed the timeout."""
    webhook_disable_after_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 120.0
    """An endpoint failing without a success for this long is disabled (and a webhook.disabled event
    tells its organisation)."""
    webhook_secret_overlap_hours: Annotated[float, Field(ge=0, le=24 * 30)] = 24.0
    """After a secret rotation, deliveries are signed with both secrets for this long."""

    notifier: NotifierKind = NotifierKind.log
    """How people with an e-mail contact are told of new urgent referrals: 'log' (the log says a
    message would be sent, without the address) or 'smtp'."""
    smtp_host: str = "localhost"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_from: str = "relay@localhost"
    """The From address of notifications sent by SMTP."""
    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS before sending."""
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    sms_gateway_url: str = ""
    """An HTTP SMS gateway taking POST {"to", "text"} as JSON with a bearer token; empty: SMS
    contacts are written to the log, not sent."""
    sms_gateway_token: SecretStr = SecretStr("")
    notification_retry_schedule: str = "30,120,600,1800,3600"
    """Seconds before each retry of a notification that could not be sent, comma separated; the last
    is repeated until it is sent (never given up)."""

    audit_enabled: bool = True
    """Record the audit trail. Only the benchmark turns it off, to measure its cost; production
    refuses to start without it."""
    audit_signing_key: SecretStr = SecretStr(PLACEHOLDER_AUDIT_KEY)
    """Ed25519 private key (base64url of its 32-byte seed) signing the audit checkpoints; kept
    outside the database (`relay audit generate-key`)."""
    audit_retired_public_keys: str = ""
    """Public keys (base64url, 32 bytes) of audit signing keys no longer in use, comma separated:
    their checkpoints still verify and stay published."""
    audit_checkpoint_events: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    audit_checkpoint_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 5.0

    @model_validator(mode="after")
    def _public_url_is_secure(self) -> Self:
        # OAuth endpoints must be reached over TLS; plain http only on this machine's loopback.
        url = urlsplit(self.public_url)
        loopback = url.hostname in {"localhost", "127.0.0.1", "::1"}
        if url.scheme != "https" and not (url.scheme == "http" and loopback):
            raise ValueError("RELAY_PUBLIC_URL must be https:// (http:// only for localhost)")
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment is Environment.development:
            return self
        for name in ("secret_key",):
            value: SecretStr = getattr(self, name)
            secret = value.get_secret_value()
            if secret.startswith(PLACEHOLDER_PREFIX) or len(secret) < MINIMUM_SECRET_LENGTH:
                raise ValueError(
                    f"RELAY_{name.upper()} must be set to a random value of at least "
                    f"{MINIMUM_SECRET_LENGTH} characters when RELAY_ENVIRONMENT={self.environment}"
                )
        if self.environment is Environment.production:
            if self.database_url.get_secret_value() == DEVELOPMENT_DATABASE_URL:
                raise ValueError("RELAY_DATABASE_URL must be set in production")
            if not self.public_url.startswith("https://"):
                raise ValueError("RELAY_PUBLIC_URL must be an https:// URL in production")
        if self.master_keys.get_secret_value() == PLACEHOLDER_MASTER_KEYS:
            raise ValueError(
                "RELAY_MASTER_KEYS must be set (relay keys generate) when "
                f"RELAY_ENVIRONMENT={self.environment}"
            )
        if self.audit_signing_key.get_secret_value() == PLACEHOLDER_AUDIT_KEY:
            raise ValueError(
                "RELAY_AUDIT_SIGNING_KEY must be set (relay audit generate-key) when "
                f"RELAY_ENVIRONMENT={self.environment}"
            )
        if self.environment is Environment.production and (
            self.password_hash_memory_kib < MINIMUM_PASSWORD_HASH_MEMORY_KIB
            or self.password_hash_time_cost < MINIMUM_PASSWORD_HASH_TIME_COST
        ):
            raise ValueError(
                "RELAY_PASSWORD_HASH_MEMORY_KIB must be at least "
                f"{MINIMUM_PASSWORD_HASH_MEMORY_KIB} and RELAY_PASSWORD_HASH_TIME_COST at least "
                f"{MINIMUM_PASSWORD_HASH_TIME_COST} in production"
            )
        if self.environment is Environment.production and not self.audit_enabled:
            raise ValueError("RELAY_AUDIT_ENABLED cannot be false in production")
        if self.environment is Environment.production:
            for network in self.allowed_networks:
                if network.overlaps(_LOOPBACK[network.version]) or network.overlaps(
                    _LINK_LOCAL[network.version]
                ):
                    raise ValueError(
                        "RELAY_WEBHOOK_ALLOWED_NETWORKS cannot open loopback or link-local "
                        "addresses in production"
                    )
        return self

    @model_validator(mode="after")
    def _keys_and_deadlines_parse(self) -> Self:
        try:
            MasterKeys.parse(self.master_keys.get_secret_value())
        except CryptoError as error:
            raise ValueError(f"RELAY_MASTER_KEYS: {error}") from error
        if not self.due_hours:
            raise ValueError("RELAY_REFERRAL_DUE_HOURS is empty")
        if not self.retry_schedule:
            raise ValueError("RELAY_WEBHOOK_RETRY_SCHEDULE is empty")
        if self.password_hash_memory_kib < 8 * self.password_hash_parallelism:
            raise ValueError(
                "RELAY_PASSWORD_HASH_MEMORY_KIB must be at least 8 KiB per lane "
                "(RELAY_PASSWORD_HASH_PARALLELISM)"
            )
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "RELAY_WEBHOOK_LEASE_SECONDS must exceed RELAY_WEBHOOK_TIMEOUT_SECONDS"
            )
        self.notification_retries  # noqa: B018 (parses, or raises)
        self.allowed_networks  # noqa: B018
        self.proxy_networks  # noqa: B018
        self.audit_key_seed  # noqa: B018
        self.audit_retired_keys  # noqa: B018
        return self

    @property
    def notification_retries(self) -> list[float]:
        """Seconds before each retry of a notification not sent (the last repeats)."""
        delays = _seconds(self.notification_retry_schedule, "RELAY_NOTIFICATION_RETRY_SCHEDULE")
        if not delays or any(delay <= 0 for delay in delays):
            raise ValueError("RELAY_NOTIFICATION_RETRY_SCHEDULE needs positive delays")
        return delays

    @property
    def retry_schedule(self) -> list[float]:
        """Seconds before each retry of a failed webhook delivery."""
        delays = _seconds(self.webhook_retry_schedule, "RELAY_WEBHOOK_RETRY_SCHEDULE")
        if any(delay < 0 for delay in delays):
            raise ValueError("RELAY_WEBHOOK_RETRY_SCHEDULE has a negative delay")
        return delays

    @property
    def allowed_networks(self) -> list[IPv4Network | IPv6Network]:
        return _networks(
            self.webhook_allowed_networks,
            "RELAY_WEBHOOK_ALLOWED_NETWORKS is networks like 127.0.0.0/8",
        )

    @property
    def proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return _networks(
            self.trusted_proxies,
            "RELAY_TRUSTED_PROXIES is addresses or networks like 10.0.0.5 or 10.0.0.0/24",
        )

    @property
    def audit_key_seed(self) -> bytes:
        seed = _base64url(self.audit_signing_key.get_secret_value())
        if len(seed) != 32:
            raise ValueError("RELAY_AUDIT_SIGNING_KEY is the base64url of 32 bytes")
        return seed

    @property
    def audit_retired_keys(self) -> list[bytes]:
        keys = [_base64url(item) for item in _items(self.audit_retired_public_keys)]
        if any(len(key) != 32 for key in keys):
            raise ValueError("RELAY_AUDIT_RETIRED_PUBLIC_KEYS are base64url of 32 bytes")
        return keys

    @property
    def master(self) -> MasterKeys:
        return MasterKeys.parse(self.master_keys.get_secret_value())

    @property
    def due_hours(self) -> dict[str, float]:
        """Hours to acknowledge a referral, by priority code."""
        hours: dict[str, float] = {}
        for item in self.referral_due_hours.split(","):
            priority, _, value = item.strip().partition(":")
            try:
                hours[priority] = float(value)
            except ValueError:
                raise ValueError(
                    "RELAY_REFERRAL_DUE_HOURS is 'priority:hours', comma separated"
                ) from None
        missing = {"routine", "urgent", "asap", "stat"} - set(hours)
        if missing or any(value <= 0 for value in hours.values()):
            raise ValueError("RELAY_REFERRAL_DUE_HOURS needs a positive value for every priority")
        return hours

    @property
    def issuer(self) -> str:
        """The OAuth issuer identifier: the public URL without a trailing slash."""
        return self.public_url.rstrip("/")

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/oauth/token"

    @property
    def owner_database_url(self) -> str:
        """URL migrations run with: the owner role when configured, else the application's."""
        url = self.migration_database_url or self.database_url
        return url.get_secret_value()


def _items(value: str) -> list[str]:
    """The items of a comma-separated setting, blanks left out."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _seconds(value: str, name: str) -> list[float]:
    """A comma-separated list of seconds, the setting ``name``."""
    try:
        return [float(item) for item in _items(value)]
    except ValueError:
        raise ValueError(f"{name} is seconds, comma separated") from None


def _networks(value: str, what: str) -> list[IPv4Network | IPv6Network]:
    """A comma-separated list of networks (an address is a network of one); ``what`` says what
    the setting holds when an item is not one."""
    try:
        return [ip_network(item, strict=False) for item in _items(value)]
    except ValueError:
        raise ValueError(f"{what}, comma separated") from None


def _base64url(value: str) -> bytes:
    """Base64url, its padding optional; empty when the value is not base64url."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        return b""
