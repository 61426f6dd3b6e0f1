"""PostgreSQL says when a token may have stopped working: ``NOTIFY relay_credentials``.

Each API process keeps the tokens it has checked for a few seconds (``api/auth/token_cache.py``)
instead of asking the database on every request. What decides whether a token still works is in
three tables: the token (revoked, deleted), its client (disabled, deleted) and the client's
organisation (its status). A change to any of them, by any process and any role — the API, the
CLI, the worker, an operator's SQL — now notifies the channel ``relay_credentials`` when it
commits (``NOTIFY`` is transactional: nothing for a change rolled back), and every process
listening empties its cache.

Statement triggers: an update of a thousand tokens (a client's, when it is disabled) notifies
once. New rows do not notify: a new token, client or organisation cannot make a cached token
stop working.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 11:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "relay_credentials"

# The columns a token's check reads (api/repositories/tokens.py, _FIND), per table.
WATCHED = {
    "oauth_token": "revoked_at, expires_at, scopes, client_pk, organization_id, token_hash",
    "oauth_client": "disabled_at, client_id, organization_id",
    "organization": "status",
}


def upgrade() -> None:
    op.execute(
        f"""
CREATE FUNCTION credentials_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""
    )
    op.execute("REVOKE EXECUTE ON FUNCTION credentials_changed() FROM PUBLIC")
    for table, columns in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_credentials_changed "
            f"AFTER UPDATE OF {columns} OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_credentials_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed()"
        )


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER {table}_credentials_truncated ON {table}")
        op.execute(f"DROP TRIGGER {table}_credentials_changed ON {table}")
    op.execute("DROP FUNCTION credentials_changed()")
