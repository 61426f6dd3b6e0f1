"""OAuth clients, the access tokens issued to them, and the client assertions already used.

Secrets and tokens are never stored: only their keyed hashes (HMAC-SHA256 with the server's
secret key), which is enough for values with 256 bits of entropy.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from api.models.base import check_in, created_at_field, timestamp_field


class ClientAuthMethod(StrEnum):
    client_secret_basic = "client_secret_basic"  # noqa: S105 - a method name
    client_secret_post = "client_secret_post"  # noqa: S105 - a method name
    private_key_jwt = "private_key_jwt"


class OAuthClient(SQLModel, table=True):
    __tablename__ = "oauth_client"
    __table_args__ = (
        sa.CheckConstraint(check_in("auth_method", ClientAuthMethod), name="auth_method"),
        sa.CheckConstraint(
            "(auth_method = 'private_key_jwt') = (jwks IS NOT NULL AND secret_hash IS NULL)",
            name="credential_matches_method",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: str = Field(sa_type=sa.Text, unique=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    name: str = Field(sa_type=sa.Text)
    scopes: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    auth_method: str = Field(sa_type=sa.Text)
    secret_hash: str | None = Field(default=None, sa_type=sa.Text)
    jwks: dict[str, Any] | None = Field(default=None, sa_type=postgresql.JSONB)
    created_at: datetime = created_at_field()
    rotated_at: datetime | None = timestamp_field()
    disabled_at: datetime | None = timestamp_field()


class OAuthToken(SQLModel, table=True):
    """An opaque bearer token; ``token_hash`` is the only trace of its value."""

    __tablename__ = "oauth_token"

    token_hash: str = Field(sa_type=sa.Text, primary_key=True)
    client_pk: uuid.UUID = Field(foreign_key="oauth_client.id", index=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id")
    scopes: list[str] = Field(sa_type=postgresql.ARRAY(sa.Text))
    issued_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    revoked_at: datetime | None = timestamp_field()


class OAuthAssertion(SQLModel, table=True):
    """A ``private_key_jwt`` assertion's ``jti``, kept until it expires so it is used once."""

    __tablename__ = "oauth_assertion"

    client_pk: uuid.UUID = Field(foreign_key="oauth_client.id", primary_key=True)
    jti: str = Field(sa_type=sa.Text, primary_key=True)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
