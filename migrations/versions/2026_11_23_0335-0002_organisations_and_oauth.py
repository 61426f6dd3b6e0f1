"""Organisations, OAuth clients, access tokens and used client assertions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:35:53.948988+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('police', 'health', 'shelter', 'ngo', 'legal', 'social_welfare', "
            "'committee', 'hotline', 'authority')",
            name=op.f("ck_organization_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended')", name=op.f("ck_organization_status")
        ),
        sa.CheckConstraint(
            "length(name) BETWEEN 1 AND 200", name=op.f("ck_organization_name_length")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization")),
    )
    op.create_table(
        "oauth_client",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("auth_method", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=True),
        sa.Column("jwks", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(auth_method = 'private_key_jwt') = (jwks IS NOT NULL AND secret_hash IS NULL)",
            name=op.f("ck_oauth_client_credential_matches_method"),
        ),
        sa.CheckConstraint(
            "auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt')",
            name=op.f("ck_oauth_client_auth_method"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_oauth_client_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_client")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oauth_client_client_id")),
    )
    op.create_index(
        op.f("ix_oauth_client_organization_id"), "oauth_client", ["organization_id"], unique=False
    )
    op.create_table(
        "oauth_assertion",
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("jti", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oauth_client.id"],
            name=op.f("fk_oauth_assertion_client_pk_oauth_client"),
        ),
        sa.PrimaryKeyConstraint("client_pk", "jti", name=op.f("pk_oauth_assertion")),
    )
    op.create_index(
        op.f("ix_oauth_assertion_expires_at"), "oauth_assertion", ["expires_at"], unique=False
    )
    op.create_table(
        "oauth_token",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"], ["oauth_client.id"], name=op.f("fk_oauth_token_client_pk_oauth_client")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_oauth_token_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oauth_token")),
    )
    op.create_index(op.f("ix_oauth_token_client_pk"), "oauth_token", ["client_pk"], unique=False)
    op.create_index(op.f("ix_oauth_token_expires_at"), "oauth_token", ["expires_at"], unique=False)

    grant_to_app("organization", "SELECT, INSERT, UPDATE")
    grant_to_app("oauth_client", "SELECT, INSERT, UPDATE")
    # DELETE on tokens and assertions: the worker removes them once long expired.
    grant_to_app("oauth_token", "SELECT, INSERT, UPDATE, DELETE")
    grant_to_app("oauth_assertion", "SELECT, INSERT, DELETE")


def downgrade() -> None:
    op.drop_index(op.f("ix_oauth_token_expires_at"), table_name="oauth_token")
    op.drop_index(op.f("ix_oauth_token_client_pk"), table_name="oauth_token")
    op.drop_table("oauth_token")
    op.drop_index(op.f("ix_oauth_assertion_expires_at"), table_name="oauth_assertion")
    op.drop_table("oauth_assertion")
    op.drop_index(op.f("ix_oauth_client_organization_id"), table_name="oauth_client")
    op.drop_table("oauth_client")
    op.drop_table("organization")
