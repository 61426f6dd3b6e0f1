"""Web sessions of Relay's own pages (issue 20, part 2): ``web_session``.

One row per browser session, keyed by a keyed hash of the cookie's random value (never the
value): the state of its sign-in, the person and the generation of their account it was made
in, the forms' CSRF secret, the language, an invitation code while its password is chosen
(sealed by the master key), and when it was made, last used and ends.

The application role may change only what a session's use changes (``last_seen_at``, the
language, the invitation code held); a step of a sign-in is a new row, and the old one is
deleted.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 13:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.migration_support import grant_to_app

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("csrf_secret", sa.LargeBinary(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("invitation_code", sa.LargeBinary(), nullable=True),
        sa.Column("invitation_code_version", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('anonymous', 'second_factor', 'enrolment', 'signed_in')",
            name=op.f("ck_web_session_state"),
        ),
        sa.CheckConstraint(
            "(state = 'anonymous') = (user_id IS NULL)", name=op.f("ck_web_session_person_known")
        ),
        sa.CheckConstraint(
            "(user_id IS NULL) = (generation IS NULL)", name=op.f("ck_web_session_generation")
        ),
        sa.CheckConstraint(
            "(invitation_code IS NULL) = (invitation_code_version IS NULL)",
            name=op.f("ck_web_session_invitation_code_complete"),
        ),
        sa.CheckConstraint(
            "octet_length(csrf_secret) = 32", name=op.f("ck_web_session_csrf_secret_length")
        ),
        sa.CheckConstraint("language ~ '^[a-z]{2,3}$'", name=op.f("ck_web_session_language")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_web_session_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_session")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_web_session_last_seen_at"), "web_session", ["last_seen_at"], unique=False
    )
    op.create_index(op.f("ix_web_session_expires_at"), "web_session", ["expires_at"], unique=False)
    grant_to_app(
        "web_session",
        "SELECT, INSERT, UPDATE (last_seen_at, language, invitation_code, "
        "invitation_code_version), DELETE",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_web_session_expires_at"), table_name="web_session")
    op.drop_index(op.f("ix_web_session_last_seen_at"), table_name="web_session")
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_table("web_session")
