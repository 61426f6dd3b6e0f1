"""Who is calling: the organisation and client behind a token, and what the token allows.

A partner's system is a client alone. A signed-in person is the same principal with their
pseudonymous ``user_id`` and their ``role``: through Relay's own pages the client is
``WEB_CLIENT_ID`` (no OAuth client row), through an app acting for them (the authorization code
grant) the app's client; their scopes are their role's (``api/auth/roles.py``), narrowed to what
the app was granted.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from api.auth.roles import reads_personal_data, scopes_of
from api.auth.scopes import Scope
from api.models.people import UserRole

WEB_CLIENT_ID = "relay-web"
"""The client a person acts through on Relay's own pages (never an issued id: those start with
``rly_client_``)."""


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    client_pk: uuid.UUID | None
    """The OAuth client's row; None for a person on Relay's own pages."""
    organization_id: uuid.UUID
    scopes: frozenset[str]
    expires_at: datetime
    acting_user: str | None = None
    """The partner's pseudonymous staff id (``X-Acting-User``), for the audit trail; for a
    person, their ``person_pseudonym``."""
    purpose_of_use: str | None = None
    """Why the partner is asking (``X-Purpose-Of-Use``), for the audit trail."""
    user_id: uuid.UUID | None = None
    """The signed-in person (``user_account.id``); None for a partner's system."""
    role: UserRole | None = None
    """The signed-in person's role; None for a partner's system."""

    def has(self, scope: Scope) -> bool:
        return scope.value in self.scopes

    @property
    def is_person(self) -> bool:
        return self.user_id is not None

    @property
    def reads_personal_data(self) -> bool:
        """Whether this caller may read a person's data at all (its scopes and the referral's
        consent still decide which): a partner's system or a role that may; a volunteer never."""
        return self.role is None or reads_personal_data(self.role)

    @classmethod
    def of_person(
        cls,
        *,
        user_id: uuid.UUID,
        organization_id: uuid.UUID,
        role: UserRole,
        expires_at: datetime,
        client_id: str = WEB_CLIENT_ID,
        client_pk: uuid.UUID | None = None,
        granted: frozenset[str] | None = None,
        purpose_of_use: str | None = None,
    ) -> "Principal":
        """A signed-in person as a principal: their role's scopes, narrowed to ``granted`` (what
        an app acting for them was allowed) when given."""
        scopes = scopes_of(role)
        return cls(
            client_id=client_id,
            client_pk=client_pk,
            organization_id=organization_id,
            scopes=scopes if granted is None else scopes & granted,
            expires_at=expires_at,
            acting_user=person_pseudonym(user_id),
            purpose_of_use=purpose_of_use,
            user_id=user_id,
            role=role,
        )


def person_pseudonym(user_id: uuid.UUID) -> str:
    """How the audit trail names a person: ``user/<id>``. The ``/`` is outside what a partner may
    send as ``X-Acting-User``, so no partner can pass its staff off as one of Relay's people."""
    return f"user/{user_id}"
