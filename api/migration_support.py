"""Helpers for migration scripts: privileges for the application role.

The API connects as a role that owns nothing (``RELAY_APP_ROLE``); each migration grants it exactly
what the API needs on the tables it creates. Where that role does not exist (a single-role
deployment), the grant is skipped.
"""

import re

from alembic import context, op


def app_role() -> str:
    role: str = context.config.attributes["app_role"]
    return role


def grant_to_app(table: str, privileges: str) -> None:
    """``GRANT privileges ON table TO <app role>``; privileges like ``"SELECT, INSERT"`` or,
    for chosen columns only, ``"UPDATE (seq)"``."""
    privilege = r"\s*(?:SELECT|INSERT|UPDATE|DELETE)(?:\s*\(\s*\w+(?:\s*,\s*\w+)*\s*\))?\s*"
    if not re.fullmatch(f"{privilege}(?:,{privilege})*", privileges.upper()):
        raise ValueError(f"unexpected privileges {privileges!r}")
    listed = privileges.upper().strip()
    op.execute(
        f"""
        DO $grant$
        BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role()}') THEN
            EXECUTE format('GRANT {listed} ON %I TO %I', '{table}', '{app_role()}');
          END IF;
        END
        $grant$
        """
    )
