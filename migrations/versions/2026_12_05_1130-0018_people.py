"""People's accounts (issue 20): ``user_account``, ``invitation``, ``recovery_code`` and the
sign-in throttles ``sign_in_account_failures`` and ``sign_in_address_failures``; and
``organization.operator``, which marks Relay's operating organisation (one at most).

A person's organisation and role are checked together by a foreign key on
``(organization_id, operator)`` to ``organization (id, operator)``, ``user_account.operator``
being ``role = 'operator'`` (a CHECK): an operator can only be in the operator's organisation,
and nobody else can be there. Flipping an organisation's ``operator`` while it has people fails
on the same key.

The application role may not delete an account (they are deactivated: the audit trail names
them) nor move one to another organisation or change its login (its UPDATE is granted on the
columns a service changes, not on ``id``, ``organization_id``, ``login_name``, ``phone`` or
``created_at``); invitations and recovery codes may only be marked used (or an invitation cut
short), or deleted (replaced codes, long-expired invitations).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 11:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.migration_support import grant_to_app

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_ACCOUNT_UPDATES = (
    "role, operator, display_name, preferred_language, password_hash, password_changed_at, "
    "totp_secret, totp_secret_version, totp_confirmed_at, totp_pending_secret, "
    "totp_pending_version, last_totp_step, generation, last_sign_in_at, deactivated_at"
)


def upgrade() -> None:
    op.add_column(
        "organization",
        sa.Column("operator", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_unique_constraint(
        op.f("uq_organization_id_operator"), "organization", ["id", "operator"]
    )
    op.create_index(
        "uq_organization_operator",
        "organization",
        ["operator"],
        unique=True,
        postgresql_where="operator",
    )
    op.create_table(
        "sign_in_account_failures",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_account_failures")),
    )
    op.create_index(
        op.f("ix_sign_in_account_failures_blocked_until"),
        "sign_in_account_failures",
        ["blocked_until"],
        unique=False,
    )
    op.create_table(
        "sign_in_address_failures",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("arrival", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_address_failures")),
    )
    op.create_index(
        op.f("ix_sign_in_address_failures_arrival"),
        "sign_in_address_failures",
        ["arrival"],
        unique=False,
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("operator", sa.Boolean(), nullable=False),
        sa.Column("login_name", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("preferred_language", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_secret_version", sa.Integer(), nullable=True),
        sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_pending_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_pending_version", sa.Integer(), nullable=True),
        sa.Column("last_totp_step", sa.BigInteger(), nullable=True),
        sa.Column("generation", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "login_name ~ '^[a-z0-9][a-z0-9._-]{2,63}$'",
            name=op.f("ck_user_account_login_name_format"),
        ),
        sa.CheckConstraint(
            "operator = (role = 'operator')", name=op.f("ck_user_account_operator_is_role")
        ),
        sa.CheckConstraint(
            "phone ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f("ck_user_account_phone_format")
        ),
        sa.CheckConstraint(
            "preferred_language ~ '^[a-z]{2,3}$'", name=op.f("ck_user_account_preferred_language")
        ),
        sa.CheckConstraint(
            "role IN ('volunteer', 'caseworker', 'org_admin', 'operator')",
            name=op.f("ck_user_account_role"),
        ),
        sa.CheckConstraint(
            "(totp_secret IS NULL) = (totp_secret_version IS NULL) "
            "AND (totp_secret IS NULL) = (totp_confirmed_at IS NULL) "
            "AND (totp_pending_secret IS NULL) = (totp_pending_version IS NULL)",
            name=op.f("ck_user_account_totp_complete"),
        ),
        sa.CheckConstraint("generation >= 1", name=op.f("ck_user_account_generation_positive")),
        sa.CheckConstraint(
            "length(display_name) BETWEEN 1 AND 100",
            name=op.f("ck_user_account_display_name_length"),
        ),
        sa.CheckConstraint(
            "login_name IS NOT NULL OR phone IS NOT NULL", name=op.f("ck_user_account_identified")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id", "operator"],
            ["organization.id", "organization.operator"],
            name=op.f("fk_user_account_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("login_name", name=op.f("uq_user_account_login_name")),
        sa.UniqueConstraint("phone", name=op.f("uq_user_account_phone")),
    )
    op.create_index(
        op.f("ix_user_account_organization_id"), "user_account", ["organization_id"], unique=False
    )
    op.create_table(
        "invitation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('first_password', 'reset')", name=op.f("ck_invitation_purpose")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_invitation_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_invitation_code_hash")),
    )
    op.create_index(op.f("ix_invitation_expires_at"), "invitation", ["expires_at"], unique=False)
    op.create_index(op.f("ix_invitation_user_id"), "invitation", ["user_id"], unique=False)
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_recovery_code_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
        sa.UniqueConstraint(
            "user_id", "code_hash", name=op.f("uq_recovery_code_user_id_code_hash")
        ),
    )
    op.create_index(op.f("ix_recovery_code_user_id"), "recovery_code", ["user_id"], unique=False)

    grant_to_app("user_account", f"SELECT, INSERT, UPDATE ({USER_ACCOUNT_UPDATES})")
    grant_to_app("invitation", "SELECT, INSERT, UPDATE (used_at, expires_at), DELETE")
    grant_to_app("recovery_code", "SELECT, INSERT, UPDATE (used_at), DELETE")
    grant_to_app("sign_in_account_failures", "SELECT, INSERT, UPDATE, DELETE")
    grant_to_app("sign_in_address_failures", "SELECT, INSERT, UPDATE, DELETE")


def downgrade() -> None:
    op.drop_index(op.f("ix_recovery_code_user_id"), table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_index(op.f("ix_invitation_user_id"), table_name="invitation")
    op.drop_index(op.f("ix_invitation_expires_at"), table_name="invitation")
    op.drop_table("invitation")
    op.drop_index(op.f("ix_user_account_organization_id"), table_name="user_account")
    op.drop_table("user_account")
    op.drop_index(
        op.f("ix_sign_in_address_failures_arrival"), table_name="sign_in_address_failures"
    )
    op.drop_table("sign_in_address_failures")
    op.drop_index(
        op.f("ix_sign_in_account_failures_blocked_until"), table_name="sign_in_account_failures"
    )
    op.drop_table("sign_in_account_failures")
    op.drop_index(
        "uq_organization_operator", table_name="organization", postgresql_where="operator"
    )
    op.drop_constraint(op.f("uq_organization_id_operator"), "organization", type_="unique")
    op.drop_column("organization", "operator")
