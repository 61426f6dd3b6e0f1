"""OAuth clients, the access tokens issued to them, and the client assertions already used; for
apps acting for a person, the authorization codes, the families of refresh tokens and the
refresh tokens themselves.

Secrets, codes and tokens are never stored: only their keyed hashes (HMAC-SHA256 with the
server's secret key), which is enough for values with 256 bits of entropy.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from api.models.base import created_at_field, enum_check, timestamp_field


class ClientAuthMethod(StrEnum):
    client_secret_basic = "client_secret_basic"  # noqa: S105 - a method name
    client_secret_post = "client_secret_post"  # noqa: S105 - a method name
    private_key_jwt = "private_key_jwt"
    none = "none"
    """A public client (RFC 6749 §2.1: a partner's mobile app): no secret, no key; it acts for
    people only (the authorization code grant with PKCE), never for itself."""


class OAuthClient(SQLModel, table=True):
    __tablename__ = "oauth_client"
    __table_args__ = (
        enum_check("auth_method", ClientAuthMethod),
        sa.CheckConstraint(
            "(auth_method = 'private_key_jwt') = (jwks IS NOT NULL AND secret_hash IS NULL)",
            name="credential_matches_method",
        ),
        sa.CheckConstraint(
            "(auth_method = 'none') = (jwks IS NULL AND secret_hash IS NULL)",
            name="public_has_no_credential",
        ),
        sa.CheckConstraint(
            "auth_method <> 'none' OR cardinality(redirect_uris) > 0",
            name="public_acts_for_people",
        ),
        sa.CheckConstraint("cardinality(redirect_uris) <= 10", name="redirect_uris_count"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: str = Field(sa_type=sa.Text, unique=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    name: str = Field(sa_type=sa.Text)
    scopes: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    auth_method: str = Field(sa_type=sa.Text)
    secret_hash: str | None = Field(default=None, sa_type=sa.Text)
    jwks: dict[str, Any] | None = Field(default=None, sa_type=postgresql.JSONB(none_as_null=True))
    redirect_uris: list[str] = Field(
        default_factory=list,
        sa_type=postgresql.ARRAY(sa.Text),
        sa_column_kwargs={"server_default": "{}"},
    )
    """Where the client may be sent back to with a code: a client with any acts for people (the
    authorization code grant), one without acts for itself (client credentials)."""
    any_organization: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    """Whether people of every organisation may let this client act for them (an app many
    organisations' people use), or only its own organisation's."""
    created_at: datetime = created_at_field()
    rotated_at: datetime | None = timestamp_field()
    disabled_at: datetime | None = timestamp_field()

    @property
    def acts_for_people(self) -> bool:
        return bool(self.redirect_uris)


class OAuthToken(SQLModel, table=True):
    """An opaque bearer token; ``token_hash`` is the only trace of its value.

    A token of a client acting for itself names the client's organisation; a token of an app
    acting for a person names the person (``user_id``), the generation of their account it was
    issued in, their organisation, and the family of refresh tokens it came from."""

    __tablename__ = "oauth_token"
    __table_args__ = (
        sa.CheckConstraint(
            "(user_id IS NULL) = (user_generation IS NULL) "
            "AND (user_id IS NULL) = (family_id IS NULL)",
            name="person_complete",
        ),
    )

    token_hash: str = Field(sa_type=sa.Text, primary_key=True)
    client_pk: uuid.UUID = Field(foreign_key="oauth_client.id", index=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id")
    scopes: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    issued_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    revoked_at: datetime | None = timestamp_field()
    user_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    user_generation: int | None = None
    family_id: uuid.UUID | None = Field(
        default=None, foreign_key="oauth_token_family.id", ondelete="CASCADE", index=True
    )


class OAuthAssertion(SQLModel, table=True):
    """A ``private_key_jwt`` assertion's ``jti``, kept until it expires so it is used once."""

    __tablename__ = "oauth_assertion"

    client_pk: uuid.UUID = Field(foreign_key="oauth_client.id", primary_key=True)
    jti: str = Field(sa_type=sa.Text, primary_key=True)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


class OAuthAuthorizationCode(SQLModel, table=True):
    """A code the authorize step gave an app for a person (RFC 6749 §4.1.2): good once, for
    ``AUTHORIZATION_CODE_LIFETIME``, to the client it was issued to, with the redirect URI it was
    sent to and the verifier of its PKCE challenge (S256). Kept after its use, with the family
    it started: a second use revokes that family (§4.1.2)."""

    __tablename__ = "oauth_authorization_code"

    code_hash: str = Field(sa_type=sa.Text, primary_key=True)
    client_pk: uuid.UUID = Field(foreign_key="oauth_client.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    user_generation: int
    redirect_uri: str = Field(sa_type=sa.Text)
    scopes: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    code_challenge: str = Field(sa_type=sa.Text)
    """BASE64URL(SHA-256(code_verifier)): S256 is the only method taken."""
    issued_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    used_at: datetime | None = timestamp_field()
    family_id: uuid.UUID | None = Field(
        default=None, foreign_key="oauth_token_family.id", ondelete="SET NULL", index=True
    )


class OAuthTokenFamily(SQLModel, table=True):
    """What a person let an app do, from one authorization code: the refresh tokens rotated
    from it and the access tokens they gave. It ends at ``expires_at`` whatever the use (the
    absolute lifetime), or when revoked: by the app, or because a refresh token was used twice
    or its code was (RFC 9700 §4.14.2), which revokes every token of the family."""

    __tablename__ = "oauth_token_family"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_pk: uuid.UUID = Field(foreign_key="oauth_client.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    user_generation: int
    organization_id: uuid.UUID = Field(foreign_key="organization.id")
    """The person's organisation."""
    scopes: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    revoked_at: datetime | None = timestamp_field()


class OAuthRefreshToken(SQLModel, table=True):
    """One refresh token of a family: good once (``used_at`` is set when it is rotated), until
    ``expires_at`` (an idle lifetime, never past the family's end)."""

    __tablename__ = "oauth_refresh_token"

    token_hash: str = Field(sa_type=sa.Text, primary_key=True)
    family_id: uuid.UUID = Field(
        foreign_key="oauth_token_family.id", ondelete="CASCADE", index=True
    )
    issued_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    used_at: datetime | None = timestamp_field()
