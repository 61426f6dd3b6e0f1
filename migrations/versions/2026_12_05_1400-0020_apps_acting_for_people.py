"""Apps acting for a person (issue 20, part 3): the authorization code grant with PKCE and
rotated refresh tokens.

- ``oauth_client``: ``redirect_uris`` (a client with any acts for people; one without, for
  itself), ``any_organization`` (people of every organisation may let it act for them, not
  only its own's), and the public clients (``auth_method = 'none'``: no secret, no key, and
  never without a redirect URI).
- ``oauth_authorization_code``: codes by keyed hash, bound to the client, the redirect URI,
  the person and their account's generation, the scopes and the S256 challenge; kept after
  their single use with the family they started, so that a second use revokes it.
- ``oauth_token_family``: what a person let an app do from one code, with its absolute end;
  ``oauth_refresh_token``: its refresh tokens, each good once.
- ``oauth_token``: an access token of a person names them (``user_id``, ``user_generation``)
  and its family (deleted with it).
- ``relay_credentials`` (migration 0017's channel) is also notified when an account changes
  what decides whether its tokens work (``current_user``: its generation, deactivation, role,
  organisation, authenticator), so that every API process forgets its tokens at once.

The application role may mark codes and refresh tokens used and revoke families, and delete
them once long expired; nothing else of them changes.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.migration_support import grant_to_app

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What ``current_user`` reads of an account (api/services/people/sign_in.py); the
# organisation's status is migration 0017's already.
ACCOUNT_COLUMNS = "generation, deactivated_at, role, organization_id, totp_secret"
OLD_AUTH_METHODS = "'client_secret_basic', 'client_secret_post', 'private_key_jwt'"
AUTH_METHODS = OLD_AUTH_METHODS + ", 'none'"


def upgrade() -> None:
    op.create_table(
        "oauth_token_family",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("user_generation", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oauth_client.id"],
            name=op.f("fk_oauth_token_family_client_pk_oauth_client"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_oauth_token_family_organization_id_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_oauth_token_family_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_token_family")),
    )
    op.create_index(
        op.f("ix_oauth_token_family_client_pk"), "oauth_token_family", ["client_pk"], unique=False
    )
    op.create_index(
        op.f("ix_oauth_token_family_expires_at"), "oauth_token_family", ["expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_oauth_token_family_user_id"), "oauth_token_family", ["user_id"], unique=False
    )
    op.create_table(
        "oauth_authorization_code",
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("user_generation", sa.Integer(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("code_challenge", sa.Text(), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("family_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oauth_client.id"],
            name=op.f("fk_oauth_authorization_code_client_pk_oauth_client"),
        ),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["oauth_token_family.id"],
            name=op.f("fk_oauth_authorization_code_family_id_oauth_token_family"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_oauth_authorization_code_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oauth_authorization_code")),
    )
    op.create_index(
        op.f("ix_oauth_authorization_code_client_pk"),
        "oauth_authorization_code",
        ["client_pk"],
        unique=False,
    )
    op.create_index(
        op.f("ix_oauth_authorization_code_expires_at"),
        "oauth_authorization_code",
        ["expires_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_oauth_authorization_code_family_id"),
        "oauth_authorization_code",
        ["family_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_oauth_authorization_code_user_id"),
        "oauth_authorization_code",
        ["user_id"],
        unique=False,
    )
    op.create_table(
        "oauth_refresh_token",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["oauth_token_family.id"],
            name=op.f("fk_oauth_refresh_token_family_id_oauth_token_family"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oauth_refresh_token")),
    )
    op.create_index(
        op.f("ix_oauth_refresh_token_family_id"), "oauth_refresh_token", ["family_id"], unique=False
    )
    op.add_column(
        "oauth_client",
        sa.Column(
            "redirect_uris", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
    )
    op.add_column(
        "oauth_client",
        sa.Column("any_organization", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column("oauth_token", sa.Column("user_id", sa.Uuid(), nullable=True))
    op.add_column("oauth_token", sa.Column("user_generation", sa.Integer(), nullable=True))
    op.add_column("oauth_token", sa.Column("family_id", sa.Uuid(), nullable=True))
    op.create_index(op.f("ix_oauth_token_family_id"), "oauth_token", ["family_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_oauth_token_user_id_user_account"),
        "oauth_token",
        "user_account",
        ["user_id"],
        ["id"],
    )
    op.create_foreign_key(
        op.f("fk_oauth_token_family_id_oauth_token_family"),
        "oauth_token",
        "oauth_token_family",
        ["family_id"],
        ["id"],
        ondelete="CASCADE",
    )

    op.drop_constraint(op.f("ck_oauth_client_auth_method"), "oauth_client", type_="check")
    op.create_check_constraint(
        op.f("ck_oauth_client_auth_method"), "oauth_client", f"auth_method IN ({AUTH_METHODS})"
    )
    op.create_check_constraint(
        op.f("ck_oauth_client_public_has_no_credential"),
        "oauth_client",
        "(auth_method = 'none') = (jwks IS NULL AND secret_hash IS NULL)",
    )
    op.create_check_constraint(
        op.f("ck_oauth_client_public_acts_for_people"),
        "oauth_client",
        "auth_method <> 'none' OR cardinality(redirect_uris) > 0",
    )
    op.create_check_constraint(
        op.f("ck_oauth_client_redirect_uris_count"),
        "oauth_client",
        "cardinality(redirect_uris) <= 10",
    )
    op.create_check_constraint(
        op.f("ck_oauth_token_person_complete"),
        "oauth_token",
        "(user_id IS NULL) = (user_generation IS NULL) AND (user_id IS NULL) = (family_id IS NULL)",
    )

    op.execute(
        "CREATE TRIGGER user_account_credentials_changed "
        f"AFTER UPDATE OF {ACCOUNT_COLUMNS} OR DELETE ON user_account "
        "FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed()"
    )
    op.execute(
        "CREATE TRIGGER user_account_credentials_truncated AFTER TRUNCATE ON user_account "
        "FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed()"
    )

    grant_to_app("oauth_authorization_code", "SELECT, INSERT, UPDATE (used_at, family_id), DELETE")
    grant_to_app("oauth_token_family", "SELECT, INSERT, UPDATE (revoked_at), DELETE")
    grant_to_app("oauth_refresh_token", "SELECT, INSERT, UPDATE (used_at), DELETE")


def downgrade() -> None:
    op.execute("DROP TRIGGER user_account_credentials_truncated ON user_account")
    op.execute("DROP TRIGGER user_account_credentials_changed ON user_account")
    # A person's tokens would otherwise be taken for their app's own.
    op.execute("DELETE FROM oauth_token WHERE user_id IS NOT NULL")
    op.drop_constraint(op.f("ck_oauth_token_person_complete"), "oauth_token", type_="check")
    op.drop_constraint(op.f("ck_oauth_client_redirect_uris_count"), "oauth_client", type_="check")
    op.drop_constraint(
        op.f("ck_oauth_client_public_acts_for_people"), "oauth_client", type_="check"
    )
    op.drop_constraint(
        op.f("ck_oauth_client_public_has_no_credential"), "oauth_client", type_="check"
    )
    op.drop_constraint(
        op.f("fk_oauth_token_family_id_oauth_token_family"), "oauth_token", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_oauth_token_user_id_user_account"), "oauth_token", type_="foreignkey"
    )
    op.drop_index(op.f("ix_oauth_token_family_id"), table_name="oauth_token")
    op.drop_column("oauth_token", "family_id")
    op.drop_column("oauth_token", "user_generation")
    op.drop_column("oauth_token", "user_id")
    op.drop_column("oauth_client", "any_organization")
    op.drop_column("oauth_client", "redirect_uris")
    op.drop_index(op.f("ix_oauth_refresh_token_family_id"), table_name="oauth_refresh_token")
    op.drop_table("oauth_refresh_token")
    op.drop_index(
        op.f("ix_oauth_authorization_code_user_id"), table_name="oauth_authorization_code"
    )
    op.drop_index(
        op.f("ix_oauth_authorization_code_family_id"), table_name="oauth_authorization_code"
    )
    op.drop_index(
        op.f("ix_oauth_authorization_code_expires_at"), table_name="oauth_authorization_code"
    )
    op.drop_index(
        op.f("ix_oauth_authorization_code_client_pk"), table_name="oauth_authorization_code"
    )
    op.drop_table("oauth_authorization_code")
    op.drop_index(op.f("ix_oauth_token_family_user_id"), table_name="oauth_token_family")
    op.drop_index(op.f("ix_oauth_token_family_expires_at"), table_name="oauth_token_family")
    op.drop_index(op.f("ix_oauth_token_family_client_pk"), table_name="oauth_token_family")
    op.drop_table("oauth_token_family")
    # Public clients have no place before this revision: they go, with their tokens.
    op.execute(
        "DELETE FROM oauth_token WHERE client_pk IN "
        "(SELECT id FROM oauth_client WHERE auth_method = 'none')"
    )
    op.execute("DELETE FROM oauth_client WHERE auth_method = 'none'")
    op.drop_constraint(op.f("ck_oauth_client_auth_method"), "oauth_client", type_="check")
    op.create_check_constraint(
        op.f("ck_oauth_client_auth_method"), "oauth_client", f"auth_method IN ({OLD_AUTH_METHODS})"
    )
