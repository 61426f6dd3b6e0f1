"""People's roles: the one table of what each may do, in the scopes machines already hold.

A signed-in person becomes a ``Principal`` with their role's scopes (``ROLE_SCOPES``), so every
service checks a person exactly as it checks a partner's client. What scopes cannot say is here
too: whether the role may read a person's data (and so must use a second factor), and which
roles may manage which.

- ``volunteer``: ``directory:read``, ``referrals:send``. A committee member looks up and refers;
  reads no person's data back, even of what they sent (``reads_personal_data``).
- ``caseworker``: the volunteer's and ``referrals:receive``, ``stats:read``. Sends and works
  referrals for the organisation; reads what the sharing profile shares, and the
  organisation's figures (counts only: staff who work its cases account for them).
- ``org_admin``: the caseworker's and ``directory:write``, ``webhooks:manage``, ``audit:read``.
  The organisation's entries, API clients, webhooks, audit trail, and its people.
- ``operator``: ``admin``, ``directory:read``, ``directory:write``, ``directory:confidential``,
  ``audit:read``, ``stats:read`` (the network's figures). Relay's operating NGO:
  organisations, review, imports, the network's figures; no referral.

No role of a partner's person holds ``directory:confidential``: an account on a phone that can be
lost, shared or taken is the likeliest credential to fall into an abuser's hands, so locating a
shelter stays with the operator and with the machine clients the operator grants it to (a
shelter's address is given by telephone, through the hotline). The operator, who vets the
directory, needs the positions.
"""

from types import MappingProxyType

from api.auth.scopes import Scope
from api.models.people import UserRole

_VOLUNTEER = (Scope.directory_read, Scope.referrals_send)
_CASEWORKER = (*_VOLUNTEER, Scope.referrals_receive, Scope.stats_read)
_ORG_ADMIN = (*_CASEWORKER, Scope.directory_write, Scope.webhooks_manage, Scope.audit_read)
_OPERATOR = (
    Scope.admin,
    Scope.directory_read,
    Scope.directory_write,
    Scope.directory_confidential,
    Scope.audit_read,
    Scope.stats_read,
)

ROLE_SCOPES: MappingProxyType[UserRole, frozenset[str]] = MappingProxyType(
    {
        UserRole.volunteer: frozenset(scope.value for scope in _VOLUNTEER),
        UserRole.caseworker: frozenset(scope.value for scope in _CASEWORKER),
        UserRole.org_admin: frozenset(scope.value for scope in _ORG_ADMIN),
        UserRole.operator: frozenset(scope.value for scope in _OPERATOR),
    }
)

READS_PERSONAL_DATA = frozenset({UserRole.caseworker, UserRole.org_admin, UserRole.operator})
"""The roles that may read a person's data (a referral's, as its sharing profile allows): they
cannot sign in without a second factor. A volunteer sees the status of what they sent, never
the person's data."""

MANAGERS = frozenset({UserRole.org_admin, UserRole.operator})
"""The roles that manage people: an org admin its own organisation's (up to org admins), the
operator everyone's."""

ORG_ADMIN_MAY_GRANT = frozenset({UserRole.volunteer, UserRole.caseworker, UserRole.org_admin})


def scopes_of(role: UserRole) -> frozenset[str]:
    return ROLE_SCOPES[role]


def reads_personal_data(role: UserRole) -> bool:
    return role in READS_PERSONAL_DATA


def requires_second_factor(role: UserRole) -> bool:
    """A role that reads a person's data signs in with TOTP; for a volunteer it is a choice."""
    return reads_personal_data(role)
