"""Who is calling: the organisation and client behind a token, and what the token allows."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from api.auth.scopes import Scope


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    client_pk: uuid.UUID
    organization_id: uuid.UUID
    scopes: frozenset[str]
    expires_at: datetime
    acting_user: str | None = None
    """The partner's pseudonymous staff id (``X-Acting-User``), for the audit trail."""
    purpose_of_use: str | None = None
    """Why the partner is asking (``X-Purpose-Of-Use``), for the audit trail."""

    def has(self, scope: Scope) -> bool:
        return scope.value in self.scopes
